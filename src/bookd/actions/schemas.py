"""The seed's action parameters, by the seed's names, with the same limits as the REST bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bookd.availability.schemas import SlotQuery
from bookd.bookings.schemas import (
    Location,
    Metadata,
    Notes,
    Rating,
    Reason,
    Requestable,
    Source,
    StartTime,
    StatusName,
)
from bookd.catalog.schemas import ServiceUid
from bookd.kit.schemas import Input, Minutes
from bookd.workspaces.schemas import BotUserNs

BookingIdField = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]


class NoParams(Input):
    bot_user_ns: BotUserNs | None = None


class ServiceParams(Input):
    service_uid: ServiceUid
    bot_user_ns: BotUserNs | None = None


class ListBookingsParams(Input):
    bot_user_ns: BotUserNs | None = None
    service_uid: ServiceUid | None = None
    status: StatusName | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: str | None = None


class BookingParams(Input):
    booking_id: BookingIdField
    bot_user_ns: BotUserNs | None = None


class CreateParams(Input):
    service_uid: ServiceUid
    bot_user_ns: BotUserNs
    start_time: StartTime
    duration: Minutes | None = None
    pending_or_confirmed: Requestable = "pending"
    location: Location = ""
    source: Source = ""
    metadata: Metadata | None = None
    notes: Notes = ""


class RescheduleParams(BookingParams):
    start_time: StartTime
    duration: Minutes | None = None
    pending_or_confirmed: Requestable | None = None
    reschedule_reason: Reason


class CancelParams(BookingParams):
    cancel_reason: Reason


class RatingParams(BookingParams):
    rating: Rating


class SlotsParams(SlotQuery):
    """`list_available_slots`: `from`, `to`, `duration`, `timezone` as in
    `GET /v1/services/{service_uid}/slots`."""

    service_uid: ServiceUid
    bot_user_ns: BotUserNs | None = None
