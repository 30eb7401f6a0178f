"""The hand-built payload parts equal what the API's schemas dump, key for key, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.models import Booking, BookingMessage
from bookd.bookings.schemas import BookingOut, MessageOut
from bookd.catalog.models import BookingService
from bookd.catalog.schemas import ServiceOut
from bookd.events import payloads
from bookd.kit.clock import iso_z
from bookd.workspaces.models import BotUser
from bookd.workspaces.schemas import BotUserOut
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


def written(part: dict[str, Any]) -> Any:
    """A part as it leaves bookd: written by `dumps` (it holds its times as datetimes)."""
    return json.loads(payloads.dumps(part))


def test_every_part_equals_its_schema(api: Api) -> None:
    made = _made(api, location="Raum 5 — 2. OG", metadata='{"crm": "ü"}', notes="bitte pünktlich")
    booking, service, bot_user, message = _loaded(api, made["id"])

    assert written(payloads.booking(booking, service, bot_user)) == BookingOut.of(
        booking, service, bot_user
    ).model_dump(mode="json")
    assert written(payloads.service(service)) == ServiceOut.model_validate(service).model_dump(
        mode="json"
    )
    assert written(payloads.bot_user(bot_user)) == BotUserOut.model_validate(bot_user).model_dump(
        mode="json"
    )
    assert written(payloads.message(message)) == MessageOut.of(message).model_dump(mode="json")
    # ... and what the API itself answered for the booking.
    assert written(payloads.booking(booking, service, bot_user)) == made


def test_nulls_and_the_other_optional_fields(api: Api) -> None:
    service = factories.service(api)
    made = factories.booking(api, service_uid=service["service_uid"], bot_user_ns="plain")
    cancelled = api.post(f"/v1/bookings/{made['id']}/cancel", {"reason": "ill"}).json()
    booking, service_row, bot_user, _ = _loaded(api, made["id"])
    part = payloads.booking(booking, service_row, bot_user)
    assert written(part) == cancelled
    assert part["metadata"] is None and part["cancel_reason"] == "ill"
    assert payloads.bot_user(bot_user)["name"] is None


def test_the_parts_have_the_schemas_fields() -> None:
    class Anything:
        def __getattr__(self, name: str) -> Any:
            from datetime import UTC, datetime

            return datetime(2030, 1, 1, tzinfo=UTC)

    thing = Anything()
    assert set(payloads.booking(thing, thing, thing)) == set(BookingOut.model_fields)
    assert set(payloads.service(thing)) == set(ServiceOut.model_fields)
    assert set(payloads.bot_user(thing)) == set(BotUserOut.model_fields)
    assert set(payloads.message(thing)) == set(MessageOut.model_fields)


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
        part = {"at": payloads.time(value), "list": [payloads.time(value)]}
        assert payloads.dumps(part) == f'{{"at":"{iso_z(value)}","list":["{iso_z(value)}"]}}'
        # The fallback for strings orjson refuses writes times the same way.
        assert payloads.dumps(part | {"lone": "\ud800"}) == json.dumps(
            {"at": iso_z(value), "list": [iso_z(value)], "lone": "\ud800"},
            separators=(",", ":"),
            ensure_ascii=False,
        )
    assert payloads.dumps({"at": payloads.time(times[0])}) == '{"at":"2026-03-29T00:59:59Z"}'
    assert payloads.dumps({"at": payloads.time(times[1])}) == '{"at":"2026-12-31T22:00:00Z"}'
