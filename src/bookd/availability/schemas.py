"""API shapes of a service's availability settings and of its free slots."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from bookd.kit.schemas import Input, Output, TimezoneName, UTCTime

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
MAX_RANGES_PER_DAY = 12
MAX_OVERRIDES = 400
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError("expected a wall-clock time HH:MM, 00:00 to 24:00")
    return value


def _not_extreme(value: date) -> date:
    # Dates this far out cannot be turned into instants in every timezone.
    if not date(2000, 1, 1) <= value < date(9000, 1, 1):
        raise ValueError("the date must lie between 2000 and 9000")
    return value


ClockTime = Annotated[str, Field(description="HH:MM, 00:00 to 24:00"), AfterValidator(_clock)]
OverrideDate = Annotated[date, AfterValidator(_not_extreme)]


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class HoursRange(Input):
    """Open from `start` to `end` (wall-clock, workspace timezone); `end` may be 24:00."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> HoursRange:
        if minutes_of(self.end) <= minutes_of(self.start):
            raise ValueError("a range ends after it starts (ranges do not cross midnight)")
        return self


DayHours = Annotated[list[HoursRange], Field(max_length=MAX_RANGES_PER_DAY)]


class DateOverride(Input):
    """Other hours on one date; no ranges closes the date."""

    date: OverrideDate
    hours: DayHours = []


class AvailabilityIn(Input):
    """Every field is optional; a field left out takes its default (a PUT replaces the whole)."""

    weekly_hours: dict[Weekday, DayHours] | None = Field(
        default=None,
        description="Opening ranges per weekday in the workspace's timezone; a weekday left out "
        "is closed. Null: open around the clock.",
    )
    date_overrides: Annotated[list[DateOverride], Field(max_length=MAX_OVERRIDES)] = Field(
        default=[], description="Dates with other hours than the weekly ones, or closed"
    )
    capacity: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = Field(
        default=None,
        description="Bookings that may overlap. Default: 1 with opening hours, else unlimited",
    )
    buffer_before: Annotated[int, Field(strict=True, ge=0, le=1440)] = Field(
        default=0, description="Minutes kept free before each booking"
    )
    buffer_after: Annotated[int, Field(strict=True, ge=0, le=1440)] = Field(
        default=0, description="Minutes kept free after each booking"
    )
    min_notice: Annotated[int, Field(strict=True, ge=0, le=525_600)] = Field(
        default=0, description="Minutes between now and the earliest start taken"
    )
    horizon_days: Annotated[int, Field(strict=True, ge=1, le=3650)] | None = Field(
        default=None, description="How many days ahead bookings are taken; null: no limit"
    )
    slot_interval: Annotated[int, Field(strict=True, ge=1, le=1440)] | None = Field(
        default=None, description="Minutes between offered slots; default: the duration"
    )

    @model_validator(mode="after")
    def _one_override_per_date(self) -> AvailabilityIn:
        dates = [o.date for o in self.date_overrides]
        if len(dates) != len(set(dates)):
            raise ValueError("each date has at most one override")
        return self


class AvailabilityOut(Output):
    service_uid: str
    weekly_hours: dict[Weekday, list[HoursRange]] | None
    date_overrides: list[DateOverride]
    capacity: int | None
    effective_capacity: int | None = Field(
        description="The capacity in force: `capacity`, or its default; null: unlimited"
    )
    buffer_before: int
    buffer_after: int
    min_notice: int
    horizon_days: int | None
    slot_interval: int | None
    created_at: UTCTime
    updated_at: UTCTime


class SlotOut(Output):
    start: datetime = Field(description="In the asked timezone, ISO 8601 with its offset")
    end: datetime
    remaining: int | None = Field(description="Bookings this start still takes; null: unlimited")


class SlotsOut(Output):
    service_uid: str
    timezone: str
    duration: int
    data: list[SlotOut]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _time_or_date(value: object) -> object:
    """A date stays a date (midnight in the asked timezone); anything else is a time with an
    offset."""
    if isinstance(value, str) and _DATE.match(value):
        return date.fromisoformat(value)
    if isinstance(value, str):
        return _AWARE.validate_python(value)
    if isinstance(value, date):
        return value
    # Pydantic would read a number as a Unix time: that is not what the parameter says.
    raise ValueError("expected ISO 8601 with an offset, or a date YYYY-MM-DD")


TimeOrDate = Annotated[datetime | date, BeforeValidator(_time_or_date)]


class SlotQuery(Input):
    """`from`/`to` are ISO 8601 times with an offset, or dates (midnight in `timezone`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: TimeOrDate | None = Field(default=None, alias="from")
    end: TimeOrDate | None = Field(default=None, alias="to")
    duration: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = None
    timezone: TimezoneName | None = None
