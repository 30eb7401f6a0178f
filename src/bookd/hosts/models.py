"""Hosts: the people and resources (rooms, chairs, equipment) that bookings hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class Host(Base):
    """A host's hours, date overrides and time off are JSON documents (see `schemas.py`), read and
    replaced as a whole, as a service's availability settings are."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    host_uid: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64))
    weekly_hours: Mapped[str | None] = mapped_column(Text)
    date_overrides: Mapped[str] = mapped_column(Text, default="[]")
    time_off: Mapped[str] = mapped_column(Text, default="[]")
    capacity: Mapped[int] = mapped_column(default=1)
    buffer_before: Mapped[int] = mapped_column(default=0)
    buffer_after: Mapped[int] = mapped_column(default=0)
    max_bookings_per_day: Mapped[int | None]
    max_minutes_per_day: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_hosts_workspace_id_host_uid", "workspace_id", "host_uid", unique=True),
    )


class ServiceAssignment(Base):
    """How a booking service with hosts picks them (`schemas.Assignment`); one row per service
    that has hosts."""

    __tablename__ = "service_assignments"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("booking_services.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ServiceHost(Base):
    """A host serving a service (`role='host'`, with its priority and weight), or a resource
    every booking of the service also needs a place of (`role='resource'`)."""

    __tablename__ = "service_hosts"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("booking_services.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(default=2)
    weight: Mapped[int] = mapped_column(default=100)
    added_at: Mapped[datetime]
    """When the host joined the service: round robin starts a host added mid-month at its share."""
