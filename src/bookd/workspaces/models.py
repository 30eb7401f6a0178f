"""Tenants, the keys that open them, their bot users and the customer tokens that open one bot
user's bookings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Tenant(Protocol):
    """What the services need of a workspace: a `Workspace`, or a plain record of one (the
    scheduler reads rows, not ORM objects)."""

    @property
    def id(self) -> int: ...

    @property
    def timezone(self) -> str: ...


class ApiKey(Base):
    """Only a SHA-256 of the key is kept: keys are long random strings, so a fast hash is enough."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_keys_workspace_id", "workspace_id"),)


class BotUser(Base):
    """The contact a booking is for, named by `ns`; created on first use."""

    __tablename__ = "bot_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ns: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    followups_opt_out: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("uq_bot_users_workspace_id_ns", "workspace_id", "ns", unique=True),)


class CustomerToken(Base):
    """A credential for one bot user (a customer) of a workspace: it opens that bot user's
    bookings, and only them, until it expires or is revoked. Stored as SHA-256 like API keys;
    the token (`bkc_…`) is shown once."""

    __tablename__ = "customer_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    bot_user_id: Mapped[int] = mapped_column(ForeignKey("bot_users.id", ondelete="CASCADE"))
    # Unique, so a request's token is found by one index look-up.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        # The workspace's list, in id order.
        Index("ix_customer_tokens_workspace_id_id", "workspace_id", "id"),
        # A bot user's tokens: its list, revoking them all at once.
        Index("ix_customer_tokens_bot_user_id", "bot_user_id"),
    )


@dataclass(frozen=True)
class Customer:
    """Who a customer token stands for: the one bot user whose bookings it may see and act on."""

    token_id: int
    bot_user_id: int
    bot_user_ns: str

    @property
    def actor(self) -> str:
        """The audit log's and the events' name for what the token does."""
        return f"customer:{self.token_id}"
