"""Admin users of a workspace, their sign-in sessions and failed sign-ins (for the rate limit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class AdminUser(Base):
    """A person who signs in to the console. An email names one user in one workspace, so that
    signing in needs no workspace to be chosen."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(200))
    """argon2id, in the PHC string format (parameters and salt included)."""
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_admin_users_email", "email", unique=True),
        Index("ix_admin_users_workspace_id", "workspace_id"),
    )


class AdminSession(Base):
    """A signed-in browser. Only a SHA-256 of the cookie's token is kept, like API keys."""

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Every form of this session carries it; a POST without it is refused."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_admin_sessions_token_hash", "token_hash", unique=True),
        Index("ix_admin_sessions_user_id", "user_id"),
    )


class SignInCounter(Base):
    """Failed sign-ins of one key in its current window, for the rate limit: one row per key,
    taken with an upsert that also locks it (see `auth.sign_in`)."""

    __tablename__ = "sign_in_counters"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    """`email:<address>` or `ip:<client address>`."""
    window_start: Mapped[datetime]
    """The first failure of the window; the window and its count end `FAILURE_WINDOW` later."""
    failures: Mapped[int]

    # For the sweep of windows that have ended.
    __table_args__ = (Index("ix_sign_in_counters_window_start", "window_start"),)
