"""API shapes of bookings, their reminders, follow-ups and logs, with the limits of SPEC section 2."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Json

from bookd.bookings.models import BookingLog
from bookd.bookings.rows import BookingRow, BotUserRow, MessageRow, ServiceRow
from bookd.kit.schemas import (
    LATEST,
    Input,
    Minutes,
    Output,
    QueryTime,
    UTCTime,
    in_utc_range,
    iso_8601,
)
from bookd.workspaces.schemas import BotUserNs


def _not_json_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON: a client's JSON.parse would fail.
    raise ValueError(name)


def _must_be_json(value: str) -> str:
    try:
        json.loads(value, parse_constant=_not_json_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can read
        raise ValueError("metadata must be a JSON document given as a string") from None
    return value


Location = Annotated[str, Field(max_length=1000)]
Source = Annotated[str, Field(max_length=100)]
Notes = Annotated[str, Field(max_length=1000)]
Metadata = Annotated[str, Field(max_length=5000), AfterValidator(_must_be_json)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Rating = Annotated[int, Field(strict=True, ge=0, le=5)]


def _bookable(value: datetime) -> datetime:
    # A start whose end or follow-ups would not fit in a datetime is refused here, not left to
    # overflow into a 500 later.
    if in_utc_range(value) >= LATEST:
        raise ValueError("start_time must be before the year 9000")
    return value


StartTime = Annotated[AwareDatetime, BeforeValidator(iso_8601), AfterValidator(_bookable)]
Requestable = Literal["pending", "confirmed"]
StatusName = Literal[
    "pending", "confirmed", "in_progress", "completed", "cancelled", "no_show", "inactive"
]


class BookingCreate(Input):
    service_uid: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    service_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    bot_user_ns: BotUserNs
    start_time: StartTime
    duration: Minutes | None = None
    status: Requestable = "pending"
    location: Location = ""
    source: Source = ""
    metadata: Metadata | None = None
    notes: Notes = ""
    force: bool = Field(
        default=False,
        description="Staff override: book even where the service's availability settings refuse "
        "(outside its hours, beyond its capacity); the override is kept in the booking's log",
    )


class BookingUpdate(Input):
    location: Location | None = None
    source: Source | None = None
    metadata: Metadata | None = None
    notes: Notes | None = None


class RescheduleBody(Input):
    start_time: StartTime
    duration: Minutes | None = None
    status: Requestable | None = None
    reason: Reason
    force: bool = Field(
        default=False,
        description="Staff override: book even where the service's availability settings refuse "
        "(outside its hours, beyond its capacity); the override is kept in the booking's log",
    )


class CancelBody(Input):
    reason: Reason


class RatingBody(Input):
    rating: Rating


class BookingOut(Output):
    id: int
    service_uid: str
    service_id: int
    bot_user_ns: str
    status: str
    start_time: UTCTime
    end_time: UTCTime
    duration: int
    location: str
    source: str
    metadata: str | None
    notes: str
    rating: int | None
    cancel_reason: str | None
    reschedule_reason: str | None
    reschedule_count: int
    version: int
    created_at: UTCTime
    updated_at: UTCTime

    @classmethod
    def of(cls, booking: BookingRow, service: ServiceRow, bot_user: BotUserRow) -> BookingOut:
        return cls(
            id=booking.id,
            service_uid=service.service_uid,
            service_id=service.id,
            bot_user_ns=bot_user.ns,
            status=booking.status,
            start_time=booking.start_time,
            end_time=booking.end_time,
            duration=booking.duration,
            location=booking.location,
            source=booking.source,
            metadata=booking.metadata_json,
            notes=booking.notes,
            rating=booking.rating,
            cancel_reason=booking.cancel_reason,
            reschedule_reason=booking.reschedule_reason,
            reschedule_count=booking.reschedule_count,
            version=booking.version,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
        )


class MessageOut(Output):
    """A booking's reminder or follow-up."""

    id: int
    sequence: int
    title: str
    description: str
    scheduled_at: UTCTime
    status: str
    sent_at: UTCTime | None
    skip_reason: str | None

    @classmethod
    def of(cls, message: MessageRow) -> MessageOut:
        return cls.model_validate(message)


class LogOut(Output):
    id: int
    action: str
    actor: str
    old_status: str | None
    new_status: str | None
    details: Json[dict[str, Any]]
    """Stored as JSON text; answered as the object it holds."""
    created_at: UTCTime

    @classmethod
    def of(cls, log: BookingLog) -> LogOut:
        return cls.model_validate(log)


class BookingFilters(Input):
    bot_user_ns: str | None = None
    service_uid: str | None = None
    status: StatusName | None = None
    start_from: QueryTime | None = None
    start_to: QueryTime | None = None
