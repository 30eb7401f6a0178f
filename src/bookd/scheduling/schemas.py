"""The scheduler's status and a service's schedule preview, as the API answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel

from bookd.bookings.schemas import StartTime
from bookd.kit.schemas import EARLIEST, UTCTime


class Backlog(BaseModel):
    starts: int
    ends: int
    reminders: int
    followups: int


class SchedulerStatus(BaseModel):
    now: UTCTime
    due_backlog: Backlog
    """Items of this workspace whose time has come and that no scheduler has processed yet."""
    oldest_due_at: UTCTime | None
    oldest_lateness_seconds: float | None
    last_tick_at: UTCTime | None
    """The latest tick of any scheduler process."""
    workers_running: int
    """Scheduler processes that ticked in the last 30 seconds (they serve every workspace, so only
    their number is shown here)."""


def _not_before_earliest(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError(f"start_time must not be before the year {EARLIEST.year}")
    return value


# A start as a booking takes it, but in the past too (its reminders show as skipped): not too far
# back, where a reminder a year before it would fall off the calendar's start (the year 1).
PreviewStart = Annotated[StartTime, AfterValidator(_not_before_earliest)]


class PreviewItem(BaseModel):
    sequence: int
    title: str
    scheduled_at: UTCTime
    status: str
    """`pending` if it would still be to come when the booking is made now, else `skipped`."""


class Preview(BaseModel):
    start_time: UTCTime
    end_time: UTCTime
    timezone: str
    reminders: list[PreviewItem]
    followups: list[PreviewItem]
    """As if the booking is completed at its end time."""
