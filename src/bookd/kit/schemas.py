"""Field types shared by the API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from bookd.kit.clock import iso_z

UTCTime = Annotated[datetime, PlainSerializer(iso_z, return_type=str, when_used="json")]
MAX_MINUTES = 1000
Minutes = Annotated[int, Field(strict=True, ge=0, le=MAX_MINUTES)]
ActiveStatus = Literal["active", "inactive"]


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    return value


TimezoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_timezone)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


# For path and query parameters, which are not read through `Input`.
NO_NUL = r"^[^\x00]*$"

# The instants bookd takes from a client and derives others from. `datetime` ends at the years 1
# and 9999; well inside them, no derived time (an end, a reminder a year before, a follow-up a
# year after, the day or week either side, the same instant in any timezone) can fall off either
# end, which would be an OverflowError, a server error, instead of a refusal of the input.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Input(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refuse it as bad input instead of failing on write.
        if _has_nul(value):
            raise ValueError("must not contain the NUL character (U+0000)")
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def in_utc_range(value: datetime) -> datetime:
    """`value`, if it can be converted to UTC (not beyond the years 1 to 9999 there)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None
    return value


def iso_8601(value: Any) -> Any:
    """Pydantic would read a number, or a string of digits, as a Unix time: that is not ISO 8601."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected ISO 8601 with an offset, e.g. 2030-01-02T12:30:00Z")
    return value


# A time in a query (`start_from`, `occurred_after`): any aware time that converts to UTC.
QueryTime = Annotated[AwareDatetime, AfterValidator(in_utc_range)]
