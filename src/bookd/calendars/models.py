"""A workspace's calendar feed tokens: the credential in a subscription URL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class CalendarFeed(Base):
    """Calendar apps cannot send an API key, so the feed URL carries a token of its own. Only its
    SHA-256 is kept; revoking it (or issuing a new one) ends every subscription made with it."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_calendar_feeds_workspace_id", "workspace_id"),)
