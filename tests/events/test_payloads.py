"""An event's parts are the API's answers, on both databases; `dumps` writes what the standard
library writes, times as `iso_z` does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import payloads as parts
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog.models import BookingService
from bookd.events import payloads
from bookd.kit.clock import iso_z
from bookd.workspaces.models import BotUser
from tests import factories
from tests.conftest import Api


def _made(api: Api, **booking: Any) -> dict[str, Any]:
    service = factories.service(api, name="Beratung für Zoë ✓", description="Ünïcode 漢字")
    factories.template(api, service["service_uid"], title="In [TIME] ✓", hours=1)
    api.put(
        "/v1/bot-users/zoë",
        {"name": "Zoë", "email": "z@example.com", "timezone": "Europe/Berlin", "locale": "de"},
    )
    return factories.booking(api, service_uid=service["service_uid"], bot_user_ns="zoë", **booking)


def _loaded(api: Api, booking_id: int) -> tuple[Any, ...]:
    async def work(session: AsyncSession) -> tuple[Any, ...]:
        row = (
            await session.execute(
                select(Booking, BookingService, BotUser)
                .join(BookingService, BookingService.id == Booking.service_id)
                .join(BotUser, BotUser.id == Booking.bot_user_id)
                .where(Booking.id == booking_id)
            )
        ).one()
        message = await session.scalar(
            select(BookingMessage).where(BookingMessage.booking_id == booking_id)
        )
        return (*row, message)

    return api.run(work)


def test_the_parts_are_the_api_answers(api: Api) -> None:
    made = _made(api, location="Raum 5 — 2. OG", metadata='{"crm": "ü"}', notes="bitte pünktlich")
    booking, service, bot_user, message = _loaded(api, made["id"])

    assert parts.booking(booking, service, bot_user) == made
    assert parts.service(service) == api.get(f"/v1/services/{service.service_uid}").json()
    assert parts.bot_user(bot_user) == api.get("/v1/bot-users/zoë").json()
    [listed] = api.get(f"/v1/bookings/{made['id']}/reminders").json()["data"]
    assert parts.message(message) == listed
    # ... and what the event of the creation carries.
    [event] = [e for e in api.get("/v1/events").json()["data"] if e["type"] == "BOOKING_CREATED"]
    assert event["data"]["booking"] == made
    assert event["data"]["service"] == parts.service(service)
    assert event["data"]["bot_user"] == parts.bot_user(bot_user)


def test_nulls_and_the_other_optional_fields(api: Api) -> None:
    service = factories.service(api)
    made = factories.booking(api, service_uid=service["service_uid"], bot_user_ns="plain")
    cancelled = api.post(f"/v1/bookings/{made['id']}/cancel", {"reason": "ill"}).json()
    booking, service_row, bot_user, _ = _loaded(api, made["id"])
    part = parts.booking(booking, service_row, bot_user)
    assert part == cancelled
    assert part["metadata"] is None and part["cancel_reason"] == "ill"
    assert parts.bot_user(bot_user)["name"] is None


def test_dumps_writes_what_the_standard_library_writes() -> None:
    documents: list[Any] = [
        {"a": 1, "b": [True, None, "ü漢✓"], "c": {"d": -5, "e": ""}},
        {"quote": 'say "hi"\n\t\\', "control": "\x01\x1f", "emoji": "🙂"},
        {"lone": "\ud800"},  # a lone surrogate: orjson refuses it, the fallback writes it
    ]
    for document in documents:
        assert payloads.dumps(document) == json.dumps(
            document, separators=(",", ":"), ensure_ascii=False
        )


def test_dumps_writes_times_as_iso_z_does() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    times = [
        datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),  # microseconds dropped, not rounded
        datetime(2026, 12, 31, 23, 0, tzinfo=berlin),  # another zone: converted to UTC
        datetime(1999, 1, 2, 3, 4, 5, tzinfo=UTC),
    ]
    for value in times:
        part = {"at": value, "list": [value]}
        assert payloads.dumps(part) == f'{{"at":"{iso_z(value)}","list":["{iso_z(value)}"]}}'
        # The fallback for strings orjson refuses writes times the same way.
        assert payloads.dumps(part | {"lone": "\ud800"}) == json.dumps(
            {"at": iso_z(value), "list": [iso_z(value)], "lone": "\ud800"},
            separators=(",", ":"),
            ensure_ascii=False,
        )
    assert payloads.dumps({"at": times[0]}) == '{"at":"2026-03-29T00:59:59Z"}'
    assert payloads.dumps({"at": times[1]}) == '{"at":"2026-12-31T22:00:00Z"}'
