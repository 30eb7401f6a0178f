"""Triggers (a workspace's webhook subscriptions), deliveries (one event to one trigger) and every
attempt of a delivery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base, BigId, partial_index
from bookd.webhooks.counts import DAY_COLUMNS


class Trigger(Base):
    __tablename__ = "triggers"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    # JSON lists: event types (["*"] for all) and service UIDs (null: every service).
    event_types: Mapped[str] = mapped_column(Text)
    service_uids: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # How many attempts to this endpoint may be in flight at once, per worker process.
    concurrency: Mapped[int] = mapped_column(default=8, server_default=text("8"))
    # The circuit breaker: failed attempts in a row, since when the endpoint has been failing, and
    # while `retry_at` lies ahead the trigger's deliveries wait (then one attempt probes it).
    failures: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    failing_since: Mapped[datetime | None]
    retry_at: Mapped[datetime | None]
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs too until this time, so receivers can switch over.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_triggers_workspace_id_status", "workspace_id", "status"),)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    trigger_id: Mapped[int] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(BigId, ForeignKey("events.seq", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    # When the next attempt is due; while an attempt is in flight, when its lease runs out.
    next_attempt_at: Mapped[datetime]
    lease: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    # Sent again by hand or by a recovery: one attempt, and a failure fails the delivery.
    final: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_deliveries_event_seq_trigger_id", "event_seq", "trigger_id", unique=True),
        Index("ix_deliveries_trigger_id_id", "trigger_id", "id"),
        # Claims take the due deliveries of each trigger in turn, oldest first.
        partial_index(
            "ix_deliveries_trigger_id_due",
            "trigger_id",
            "next_attempt_at",
            where="status = 'pending'",
        ),
        # A trigger's last failure (`service.trigger_health`): few rows, as most deliveries succeed.
        partial_index(
            "ix_deliveries_trigger_id_failing",
            "trigger_id",
            "id",
            where="status = 'failed' OR (status = 'pending' AND attempts > 0)",
        ),
        {"sqlite_autoincrement": True},
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigId, ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    succeeded: Mapped[bool]
    response: Mapped[str | None] = mapped_column(Text)
    """The first 2 KB of the answer, or the error when there was none."""

    __table_args__ = (
        Index("ix_delivery_attempts_delivery_id_id", "delivery_id", "id"),
        {"sqlite_autoincrement": True},
    )


# The analytics counters of deliveries that ended (`webhooks.counts`), per workspace and
# workspace-local day; like `booking_days`, without foreign keys.
DELIVERY_DAYS = Table(
    "delivery_days",
    Base.metadata,
    Column("workspace_id", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("shard", SmallInteger, nullable=False),
    *(Column(name, Integer, nullable=False, server_default=text("0")) for name in DAY_COLUMNS),
    PrimaryKeyConstraint("workspace_id", "day", "shard"),
)
