"""Scheduler processes, as they report themselves (for status pages and health checks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bookd.kit.db import Base


class WorkerHeartbeat(Base):
    __tablename__ = "scheduler_workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime]
    last_tick_at: Mapped[datetime]
    processed: Mapped[int] = mapped_column(default=0)
