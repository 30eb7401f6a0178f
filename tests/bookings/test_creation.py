"""A booking's creation is one path for every caller: a bot user's first booking and a known bot
user's answer alike and write the same rows, the bot user created or found by the same statement."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.models import Booking, BookingLog, BookingMessage
from bookd.events.models import Event
from bookd.kit import wakeup
from bookd.workspaces.models import BotUser
from tests import factories
from tests.conftest import Api

# What differs between two bookings made alike for two bot users: their ids and the bot user.
IDS = {"id", "seq", "booking_id", "bot_user_id"}


def _written(api: Api, booking_id: int) -> dict[str, Any]:
    """Everything a creation wrote about one booking, ids and times left out."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        booking = await session.get(Booking, booking_id)
        messages = (
            await session.scalars(
                select(BookingMessage)
                .where(BookingMessage.booking_id == booking_id)
                .order_by(BookingMessage.sequence)
            )
        ).all()
        logs = (
            await session.scalars(select(BookingLog).where(BookingLog.booking_id == booking_id))
        ).all()
        events = (await session.scalars(select(Event).where(Event.booking_id == booking_id))).all()

        def columns(row: Any) -> dict[str, Any]:
            return {
                c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs if c.key not in IDS
            }

        def event(row: Event) -> dict[str, Any]:
            data = json.loads(row.data)
            del data["booking"]["id"], data["ics_url"], data["booking"]["bot_user_ns"]
            for name in ("bot_user_ns", "created_at", "updated_at"):
                del data["bot_user"][name]
            return columns(row) | {"data": data}

        return {
            "booking": columns(booking),
            "messages": [columns(m) for m in messages],
            "logs": [columns(log) for log in logs],
            "events": [event(e) for e in events],
        }

    return api.run(work)


def _bot_user(api: Api, ns: str) -> dict[str, Any]:
    async def work(session: AsyncSession) -> dict[str, Any]:
        user = await session.scalar(
            select(BotUser).where(BotUser.workspace_id == api.workspace_id, BotUser.ns == ns)
        )
        assert user is not None
        return {c.key: getattr(user, c.key) for c in user.__mapper__.column_attrs}

    return api.run(work)


def test_a_new_and_a_known_bot_user_get_the_same_answer_and_rows(api: Api) -> None:
    svc = factories.service(api, default_duration=45)
    uid = svc["service_uid"]
    factories.template(api, uid, days=1, title="Tomorrow: [SERVICE]", description="See you")
    factories.template(api, uid, hours=2, title="Soon")
    off = factories.template(api, uid, minutes=10, title="Off")
    api.patch(f"/v1/services/{uid}/reminders/{off['sequence']}", {"status": "inactive"})
    factories.booking(api, service_uid=uid, bot_user_ns="known")
    known_before = _bot_user(api, "known")
    now = datetime.now(UTC).replace(microsecond=0)
    # Twelve hours ahead: the day-before reminder is already past (skipped), the other pending.
    body = {
        "service_uid": uid,
        "start_time": factories.iso(now + timedelta(hours=12)),
        "status": "confirmed",
        "location": "Room 1 — über",
        "metadata": '{"channel": "telegram"}',
        "notes": "n",
    }

    known = api.post("/v1/bookings", body | {"bot_user_ns": "known"})
    new = api.post("/v1/bookings", body | {"bot_user_ns": "first-time"})
    assert known.status_code == new.status_code == 201, (known.text, new.text)

    different = {"id", "bot_user_ns", "created_at", "updated_at"}
    assert {k: v for k, v in known.json().items() if k not in different} == {
        k: v for k, v in new.json().items() if k not in different
    }
    assert new.json()["bot_user_ns"] == "first-time"
    rows_known, rows_new = _written(api, known.json()["id"]), _written(api, new.json()["id"])
    for rows in (rows_known, rows_new):
        rows["booking"].pop("created_at"), rows["booking"].pop("updated_at")
        for group in ("messages", "logs", "events"):
            for row in rows[group]:
                row.pop("created_at", None), row.pop("occurred_at", None), row.pop("sent_at", None)
                if "data" in row:
                    (
                        row["data"]["booking"].pop("created_at"),
                        row["data"]["booking"].pop("updated_at"),
                    )
    assert rows_known == rows_new
    assert [m["status"] for m in rows_new["messages"]] == ["skipped", "pending"]
    assert [e["type"] for e in rows_new["events"]] == ["BOOKING_CREATED"]
    assert api.get(f"/v1/bookings/{new.json()['id']}").json() == new.json()

    # The known bot user is found, not changed; the new one is made with the defaults.
    assert _bot_user(api, "known") == known_before
    made = _bot_user(api, "first-time")
    assert made["followups_opt_out"] is False and made["name"] is None
    assert {k: v for k, v in made.items() if k not in ("id", "ns", "created_at", "updated_at")} == {
        k: v for k, v in known_before.items() if k not in ("id", "ns", "created_at", "updated_at")
    }


def test_a_refused_creation_makes_no_bot_user(api: Api) -> None:
    svc = factories.service(api)
    api.patch(f"/v1/services/{svc['service_uid']}", {"status": "inactive"})
    refused = api.post(
        "/v1/bookings",
        {
            "service_uid": svc["service_uid"],
            "bot_user_ns": "never",
            "start_time": factories.future(),
        },
    )
    assert refused.status_code == 409
    assert api.get("/v1/bot-users/never").status_code == 404


@pytest.mark.postgres_only  # on SQLite every scheduler is in this process (test_wakeup.py)
def test_a_near_booking_wakes_other_processes_when_it_commits(api: Api, database_url: str) -> None:
    """A booking due within the wake-up window notifies the schedulers of other processes; one
    due in a month does not. Notifications arrive in commit order, so once the near booking's
    has come, the far one's would have come before it."""
    svc = factories.service(api)
    body = {"service_uid": svc["service_uid"], "bot_user_ns": "u"}
    factories.booking(api, service_uid=svc["service_uid"], bot_user_ns="u")  # u exists

    async def notifications() -> int:
        received: list[object] = []
        arrived = asyncio.Event()

        def heard(*args: object) -> None:
            received.append(args)
            arrived.set()

        conn = await asyncpg.connect(database_url)
        try:
            await conn.add_listener(wakeup.CHANNEL, heard)
            for start_time in (factories.future(days=30), factories.future(days=0, minutes=3)):
                answer = await asyncio.to_thread(
                    api.post, "/v1/bookings", body | {"start_time": start_time}
                )
                assert answer.status_code == 201, answer.text
            await asyncio.wait_for(arrived.wait(), 30)
        finally:
            await conn.close()
        return len(received)

    assert asyncio.run(notifications()) == 1
