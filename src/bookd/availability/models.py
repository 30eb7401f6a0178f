"""A booking service's availability settings: one row per service that has any."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class ServiceAvailability(Base):
    """Without a row the service takes any future time, as before availability existed.

    The opening hours and date overrides are JSON documents (see `schemas.py`): they are read and
    replaced as a whole, never queried by their parts.
    """

    __tablename__ = "service_availability"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("booking_services.id", ondelete="CASCADE"), primary_key=True
    )
    weekly_hours: Mapped[str | None] = mapped_column(Text)
    date_overrides: Mapped[str] = mapped_column(Text, default="[]")
    capacity: Mapped[int | None]
    buffer_before: Mapped[int] = mapped_column(default=0)
    buffer_after: Mapped[int] = mapped_column(default=0)
    min_notice: Mapped[int] = mapped_column(default=0)
    horizon_days: Mapped[int | None]
    slot_interval: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
