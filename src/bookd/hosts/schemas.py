"""API shapes of hosts. Their hours and date overrides have the shapes of a service's
availability settings (in the host's own timezone); time off is a list of instants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, model_validator

from bookd.availability.schemas import MAX_OVERRIDES, DateOverride, DayHours, Weekday
from bookd.kit.schemas import EARLIEST, LATEST, Input, Output, TimezoneName, UTCTime, iso_8601

HostKind = Literal["person", "resource"]
HostUid = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")]
HostName = Annotated[str, Field(min_length=1, max_length=100)]
Email = Annotated[str, Field(max_length=320)]
Capacity = Annotated[int, Field(strict=True, ge=1, le=1000)]
Buffer = Annotated[int, Field(strict=True, ge=0, le=1440)]
DailyBookings = Annotated[int, Field(strict=True, ge=1, le=1000)]
DailyMinutes = Annotated[int, Field(strict=True, ge=1, le=1440)]
MAX_TIME_OFF = 200
WeeklyHours = dict[Weekday, DayHours]
Overrides = Annotated[list[DateOverride], Field(max_length=MAX_OVERRIDES)]


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("the time must lie between the years 2000 and 9000")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(iso_8601), AfterValidator(_in_range)]


class TimeOff(Input):
    """The host is away from `start` to `end` (instants, any offset; stored in UTC)."""

    start: Instant
    end: Instant
    reason: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _ordered(self) -> TimeOff:
        if self.end <= self.start:
            raise ValueError("time off ends after it starts")
        return self


TimeOffList = Annotated[list[TimeOff], Field(max_length=MAX_TIME_OFF)]


def _one_override_per_date(overrides: list[DateOverride] | None) -> None:
    if overrides is None:
        return
    dates = [o.date for o in overrides]
    if len(dates) != len(set(dates)):
        raise ValueError("each date has at most one override")


class HostCreate(Input):
    host_uid: HostUid
    kind: HostKind = "person"
    name: HostName
    email: Email | None = None
    timezone: TimezoneName | None = Field(
        default=None, description="The timezone of the host's hours; default: the workspace's"
    )
    weekly_hours: WeeklyHours | None = Field(
        default=None,
        description="Working ranges per weekday in the host's timezone; a weekday left out is "
        "off. Null: around the clock.",
    )
    date_overrides: Overrides = []
    time_off: TimeOffList = []
    capacity: Capacity = Field(
        default=1, description="Sessions the host takes at once: 1 for a person"
    )
    buffer_before: Buffer = 0
    buffer_after: Buffer = 0
    max_bookings_per_day: DailyBookings | None = None
    max_minutes_per_day: DailyMinutes | None = None
    active: bool = True

    @model_validator(mode="after")
    def _rules(self) -> HostCreate:
        _one_override_per_date(self.date_overrides)
        return self


class HostUpdate(Input):
    """Fields left out stay; `null` clears the nullable ones (hours: around the clock)."""

    # Accepted only unchanged: the UID cannot change after creation.
    host_uid: HostUid | None = None
    kind: HostKind | None = None
    name: HostName | None = None
    email: Email | None = None
    timezone: TimezoneName | None = None
    weekly_hours: WeeklyHours | None = None
    date_overrides: Overrides | None = None
    time_off: TimeOffList | None = None
    capacity: Capacity | None = None
    buffer_before: Buffer | None = None
    buffer_after: Buffer | None = None
    max_bookings_per_day: DailyBookings | None = None
    max_minutes_per_day: DailyMinutes | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _rules(self) -> HostUpdate:
        _one_override_per_date(self.date_overrides)
        return self


class TimeOffOut(Output):
    start: UTCTime
    end: UTCTime
    reason: str


class HostOut(Output):
    host_uid: str
    kind: str
    name: str
    email: str | None
    timezone: str
    weekly_hours: dict[str, list[dict[str, str]]] | None
    date_overrides: list[dict[str, Any]]
    time_off: list[TimeOffOut]
    capacity: int
    buffer_before: int
    buffer_after: int
    max_bookings_per_day: int | None
    max_minutes_per_day: int | None
    active: bool
    created_at: UTCTime
    updated_at: UTCTime


class HostPublic(Output):
    """What a customer token sees of a host."""

    host_uid: str
    name: str
    kind: str


# --- who serves a service ------------------------------------------------------------------------

Assignment = Literal["customer_choice", "round_robin", "least_busy", "collective"]
MAX_SERVICE_HOSTS = 50
MAX_SERVICE_RESOURCES = 5


class ServiceHostIn(Input):
    host_uid: HostUid
    priority: Annotated[int, Field(strict=True, ge=0, le=4)] = Field(
        default=2, description="Higher wins in round robin"
    )
    weight: Annotated[int, Field(strict=True, ge=1, le=1000)] = Field(
        default=100, description="A host's share of the service's bookings, relative to the others"
    )


class ServiceHostsIn(Input):
    assignment: Assignment = "round_robin"
    hosts: Annotated[list[ServiceHostIn], Field(max_length=MAX_SERVICE_HOSTS)] = []
    resources: Annotated[list[HostUid], Field(max_length=MAX_SERVICE_RESOURCES)] = Field(
        default=[], description="Resources of which every booking holds one place"
    )

    @model_validator(mode="after")
    def _distinct(self) -> ServiceHostsIn:
        uids = [h.host_uid for h in self.hosts] + list(self.resources)
        if len(uids) != len(set(uids)):
            raise ValueError("each host is listed once, as a host or as a resource")
        if not uids:
            raise ValueError("a service's hosts name at least one host or resource")
        return self


class ServiceHostOut(Output):
    host_uid: str
    name: str
    kind: str
    active: bool
    priority: int
    weight: int


class ResourceOut(Output):
    host_uid: str
    name: str
    active: bool


class ServiceHostsOut(Output):
    service_uid: str
    assignment: str
    hosts: list[ServiceHostOut]
    resources: list[ResourceOut]
    created_at: UTCTime
    updated_at: UTCTime
