"""An event's parts about a booking: the API's own answers (`BookingOut`, `ServiceOut`,
`BotUserOut`, `MessageOut`), dumped as JSON values. A field added to a schema is in the events at
once; `events.payloads.dumps` writes the event's text.

Every function takes any object with the ORM models' attribute names: an ORM instance, or a row
selected by those attributes (the scheduler's snapshots).
"""

from __future__ import annotations

from typing import Any

from bookd.bookings.rows import BookingRow, BotUserRow, MessageRow, ServiceRow
from bookd.bookings.schemas import BookingOut, MessageOut
from bookd.catalog.schemas import ServiceOut
from bookd.workspaces.schemas import BotUserOut


def booking(b: BookingRow, service: ServiceRow, bot_user: BotUserRow) -> dict[str, Any]:
    return BookingOut.of(b, service, bot_user).model_dump(mode="json")


def service(s: ServiceRow) -> dict[str, Any]:
    return ServiceOut.model_validate(s).model_dump(mode="json")


def bot_user(u: BotUserRow) -> dict[str, Any]:
    return BotUserOut.model_validate(u).model_dump(mode="json")


def message(m: MessageRow) -> dict[str, Any]:
    return MessageOut.of(m).model_dump(mode="json")


def ics_path(booking_id: int) -> str:
    """Where a booking's .ics is, under the API's base URL (needs the API key): an event's
    `ics_url` (the route itself is `calendars.endpoints`')."""
    return f"/v1/bookings/{booking_id}.ics"
