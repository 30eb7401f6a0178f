"""Bookings, their scheduled reminders and follow-ups, and their audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base, BigId, partial_index


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("booking_services.id"))
    bot_user_id: Mapped[int] = mapped_column(ForeignKey("bot_users.id"))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    duration: Mapped[int]
    location: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    reschedule_reason: Mapped[str | None] = mapped_column(Text)
    reschedule_count: Mapped[int] = mapped_column(default=0)
    # Bumped by every change; `If-Match` compares against it (optimistic concurrency).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_bookings_workspace_id_id", "workspace_id", "id"),
        Index("ix_bookings_workspace_id_start_time", "workspace_id", "start_time"),
        Index("ix_bookings_bot_user_id", "bot_user_id"),
        Index("ix_bookings_service_id_start_time", "service_id", "start_time"),
        # The scheduler's two due queries: meetings to start, meetings to end.
        partial_index(
            "ix_bookings_due_start", "start_time", where="status IN ('pending', 'confirmed')"
        ),
        partial_index("ix_bookings_due_end", "end_time", where="status = 'in_progress'"),
        {"sqlite_autoincrement": True},
    )


class OfBooking:
    """A row of one booking's: a 64-bit key (these tables grow fastest), deleted with its booking."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, sort_order=-2)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), sort_order=-1
    )


class BookingMessage(OfBooking, Base):
    """One scheduled reminder (`kind='reminder'`) or follow-up (`kind='followup'`) of a booking."""

    __tablename__ = "booking_messages"

    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_templates.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int]
    title: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    scheduled_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime | None]
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_booking_messages_booking_id_kind_sequence", "booking_id", "kind", "sequence"),
        Index("ix_booking_messages_template_id", "template_id"),
        # The scheduler's due query; pending rows only, so the index stays small.
        partial_index("ix_booking_messages_due", "scheduled_at", where="status = 'pending'"),
        {"sqlite_autoincrement": True},
    )


class BookingLog(OfBooking, Base):
    """The audit trail: every action and automatic change of one booking."""

    __tablename__ = "booking_logs"

    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_booking_logs_booking_id_id", "booking_id", "id"),
        {"sqlite_autoincrement": True},
    )


class IdempotencyKey(Base):
    """The first answer to a booking creation, replayed for the same `Idempotency-Key`."""

    __tablename__ = "idempotency_keys"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
