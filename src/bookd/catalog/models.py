"""Booking services and their reminder and follow-up templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class BookingService(Base):
    __tablename__ = "booking_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    service_uid: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    default_duration: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    # The customer policy: what a customer token may do of its own bookings of this service
    # (staff are not bound by it).
    customer_can_cancel: Mapped[bool] = mapped_column(default=True, server_default=true())
    customer_can_reschedule: Mapped[bool] = mapped_column(default=True, server_default=true())
    customer_cutoff_minutes: Mapped[int | None]
    """No customer cancels or reschedules closer than this to a booking's start."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "uq_booking_services_workspace_id_service_uid",
            "workspace_id",
            "service_uid",
            unique=True,
        ),
    )


class Template(Base):
    """A reminder (`kind='reminder'`, before the start) or follow-up (after the end) of a service."""

    __tablename__ = "service_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("booking_services.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int]
    title: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    days: Mapped[int] = mapped_column(default=0)
    hours: Mapped[int] = mapped_column(default=0)
    minutes: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "uq_service_templates_service_id_kind_sequence",
            "service_id",
            "kind",
            "sequence",
            unique=True,
        ),
    )
