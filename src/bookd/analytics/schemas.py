"""The analytics report as the API answers it: one row per period and service (and one for all
services), each self-contained so that the CSV is the same rows, flattened."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from bookd.kit.schemas import EARLIEST, LATEST, Input

Granularity = Literal["day", "week", "month"]
# A report covers at most this many days (ten years by month; a year by day is 366 rows a service).
MAX_DAYS = 3660
MAX_PERIODS = 400
# The days a report may name: those of the instants bookd takes, so that a period's first and last
# day (a week or month around them) are dates too.
FIRST_DAY, LAST_DAY = EARLIEST.date(), LATEST.date() - timedelta(days=1)


class AnalyticsQuery(Input):
    start: date | None = Field(None, alias="from", description="First day (workspace's timezone)")
    end: date | None = Field(None, alias="to", description="Last day, included")
    service_uid: str | None = Field(None, max_length=50)
    granularity: Granularity = "week"

    @field_validator("start", "end")
    @classmethod
    def _within(cls, value: date | None) -> date | None:
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"a date from {FIRST_DAY} to {LAST_DAY}")
        return value

    @model_validator(mode="after")
    def _range(self) -> AnalyticsQuery:
        if self.start and self.end and self.end < self.start:
            raise ValueError("to must not be before from")
        if self.start and self.end and (self.end - self.start) > timedelta(days=MAX_DAYS):
            raise ValueError(f"a report covers at most {MAX_DAYS} days")
        return self


class Reason(BaseModel):
    reason: str
    """As first written; reasons that differ only in case and spacing are counted as one."""
    count: int


class Row(BaseModel):
    period_start: date
    period_end: date
    """The period's last day, included (workspace's timezone)."""
    service_uid: str | None
    """None: every service of the workspace together."""
    created: int
    """Bookings made in the period."""
    bookings: int
    """Bookings that start in the period, by their status now: the fields below add up to it."""
    pending: int
    confirmed: int
    in_progress: int
    completed: int
    cancelled: int
    no_show: int
    inactive: int
    completion_rate: float | None
    """completed / (completed + no_show + cancelled + inactive): of the bookings decided."""
    cancellation_rate: float | None
    """cancelled / (completed + no_show + cancelled + inactive)."""
    no_show_rate: float | None
    """no_show / (completed + no_show): of the meetings that were due to take place."""
    reschedules_per_booking: float | None
    median_lead_time_minutes: float | None
    """Creation to start, the median, read to within a bucket of `lead_time_buckets`."""
    rating_average: float | None
    ratings: dict[str, int]
    """How many bookings have each rating, "0" to "5"."""
    reminders_sent: int
    reminders_skipped: int
    followups_sent: int
    followups_skipped: int
    no_show_rate_with_reminder: float | None
    """The no-show rate of the bookings that got at least one reminder ..."""
    no_show_rate_without_reminder: float | None
    """... and of those that got none."""
    top_cancel_reasons: list[Reason]
    top_reschedule_reasons: list[Reason]
    """Each booking's latest reschedule reason."""
    deliveries_succeeded: int | None
    """Webhook deliveries that ended in the period (every service together: rows of one service
    leave these None)."""
    deliveries_failed: int | None
    median_delivery_latency_ms: float | None
    """Of the attempts that succeeded, read to within a bucket."""


class AnalyticsOut(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    granularity: Granularity
    timezone: str
    lead_time_buckets: list[int]
    """The bounds (minutes) a median lead time is read within."""
    rows: list[Row]
    total: Row
    """The whole range at once: every service, or the one asked for."""
