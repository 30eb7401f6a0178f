"""The outbox: one immutable row per thing that happened, written with the change itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base, BigId, partial_index


class Event(Base):
    __tablename__ = "events"

    # `seq` orders the outbox (relay cursor, list pagination); `id` is the public, global name
    # that receivers deduplicate on.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    # No foreign key: the event outlives a deleted booking (BOOKING_DELETED).
    booking_id: Mapped[int | None]
    occurred_at: Mapped[datetime]
    data: Mapped[str] = mapped_column(Text)
    # Set once the relay has made this event's deliveries (one per matching trigger).
    relayed: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        Index("ix_events_workspace_id_seq", "workspace_id", "seq"),
        Index("ix_events_workspace_id_type_seq", "workspace_id", "type", "seq"),
        Index("ix_events_booking_id", "booking_id"),
        partial_index("ix_events_unrelayed", "seq", where="NOT relayed"),
        {"sqlite_autoincrement": True},
    )
