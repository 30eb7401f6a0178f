"""The creation's fast lane (`bookings.create_direct`, `endpoints.CreationLane`): the same rows,
event and answer as the ORM path, and everything it does not answer left to the app untouched."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import service as bookings
from bookd.bookings.models import Booking, BookingLog, BookingMessage
from bookd.bookings.schemas import BookingCreate
from bookd.events.models import Event
from bookd.kit import wakeup
from bookd.kit.db import Database
from bookd.kit.web import api_key_actor, hash_key
from bookd.workspaces.models import Workspace
from tests import factories
from tests.conftest import Api

# What differs between two bookings made alike: their ids.
IDS = {"id", "seq", "booking_id"}


def _create_direct(api: Api, data: BookingCreate, now: datetime) -> bookings.Created | None:
    db: Database = api.client.app.state.db  # type: ignore[attr-defined]

    async def call() -> bookings.Created | None:
        return await bookings.create_direct(db, key_hash=hash_key(api.key), data=data, now=now)

    assert api.client.portal is not None
    return api.client.portal.call(call)


def _create_with_orm(api: Api, data: BookingCreate, now: datetime, *, actor: str) -> dict[str, Any]:
    async def work(session: AsyncSession) -> dict[str, Any]:
        workspace = await session.get(Workspace, api.workspace_id)
        assert workspace is not None
        ctx = bookings.Context(session=session, workspace=workspace, actor=actor, now=now)
        return (await bookings.create_booking(ctx, data)).out().model_dump(mode="json")

    return api.run(work)


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
            del data["booking"]["id"], data["ics_url"]
            return columns(row) | {"data": data}

        return {
            "booking": columns(booking),
            "messages": [columns(m) for m in messages],
            "logs": [columns(log) for log in logs],
            "events": [event(e) for e in events],
        }

    return api.run(work)


def test_direct_creation_writes_what_the_orm_path_writes(api: Api) -> None:
    svc = factories.service(api, default_duration=45)
    uid = svc["service_uid"]
    factories.template(api, uid, days=1, title="Tomorrow: [SERVICE]", description="See you")
    factories.template(api, uid, hours=2, title="Soon")
    off = factories.template(api, uid, minutes=10, title="Off")
    api.patch(f"/v1/services/{uid}/reminders/{off['sequence']}", {"status": "inactive"})
    factories.booking(api, service_uid=uid, bot_user_ns="known")  # the bot user exists
    now = datetime.now(UTC).replace(microsecond=0)
    # Twelve hours ahead: the day-before reminder is already past (skipped), the other pending.
    data = BookingCreate.model_validate(
        {
            "service_uid": uid,
            "bot_user_ns": "known",
            "start_time": (now + timedelta(hours=12)).isoformat(),
            "status": "confirmed",
            "location": "Room 1 — über",
            "metadata": '{"channel": "telegram"}',
            "notes": "n",
        }
    )

    created = _create_direct(api, data, now)
    assert created is not None
    answer = json.loads(created.body)
    orm_answer = _create_with_orm(api, data, now, actor=api_key_actor(created.api_key_id))

    assert {k: v for k, v in answer.items() if k != "id"} == {
        k: v for k, v in orm_answer.items() if k != "id"
    }
    direct, orm = _written(api, answer["id"]), _written(api, orm_answer["id"])
    assert direct == orm
    assert [m["status"] for m in direct["messages"]] == ["skipped", "pending"]
    assert [e["type"] for e in direct["events"]] == ["BOOKING_CREATED"]
    assert api.get(f"/v1/bookings/{answer['id']}").json() == answer


def test_a_bot_users_first_booking_is_left_to_the_orm_path(api: Api) -> None:
    svc = factories.service(api)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(days=3)
    data = BookingCreate.model_validate(
        {"service_id": svc["id"], "bot_user_ns": "first-time", "start_time": start.isoformat()}
    )
    assert _create_direct(api, data, now) is None
    assert api.get("/v1/bot-users/first-time").status_code == 404

    # Over HTTP the app creates the bot user with the booking; the next one takes the lane.
    body = {
        "service_id": svc["id"],
        "bot_user_ns": "first-time",
        "start_time": factories.iso(start),
    }
    assert api.post("/v1/bookings", body).status_code == 201
    assert api.get("/v1/bot-users/first-time").status_code == 200
    again = _create_direct(api, data, now)
    assert again is not None and json.loads(again.body)["bot_user_ns"] == "first-time"


def test_availability_settings_are_left_to_the_orm_path(api: Api) -> None:
    svc = factories.service(api)
    uid = svc["service_uid"]
    response = api.put(f"/v1/services/{uid}/availability", {"capacity": 1})
    assert response.status_code == 200, response.text
    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(days=2)
    data = BookingCreate.model_validate(
        {"service_uid": uid, "bot_user_ns": "u", "start_time": start.isoformat()}
    )
    assert _create_direct(api, data, now) is None
    assert api.get("/v1/bookings").json()["data"] == []

    # Over HTTP the app takes it, with the lock and the capacity check.
    body = {"service_uid": uid, "bot_user_ns": "u", "start_time": factories.iso(start)}
    assert api.post("/v1/bookings", body).status_code == 201
    second = api.post("/v1/bookings", body | {"bot_user_ns": "v"})
    assert second.status_code == 409, second.text


def test_what_the_lane_does_not_answer_the_app_answers(api: Api) -> None:
    svc = factories.service(api)
    uid = svc["service_uid"]
    body = {"service_uid": uid, "bot_user_ns": "u", "start_time": factories.future()}

    # A bad key is refused before a bad body is looked at, as on every route.
    bad_key = {"Authorization": "Bearer nope"}
    assert api.post("/v1/bookings", {"x": 1}, headers=bad_key).status_code == 401
    assert api.post("/v1/bookings", body, headers=bad_key).status_code == 401
    invalid = api.post("/v1/bookings", body | {"duration": 1001})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"][0]["field"] == "duration"
    past = api.post("/v1/bookings", body | {"start_time": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["error"]["details"][0]["code"] == "not_in_future"
    missing = api.post("/v1/bookings", body | {"service_uid": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    mismatch = api.post("/v1/bookings", body | {"service_id": svc["id"] + 1000})
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["details"][0]["code"] == "mismatch"
    api.patch(f"/v1/services/{uid}", {"status": "inactive"})
    inactive = api.post("/v1/bookings", body)
    assert inactive.status_code == 409 and inactive.json()["error"]["code"] == "conflict"
    assert api.get("/v1/bookings").json()["data"] == []

    # A body that is not JSON, or JSON with another content type, is the app's to judge.
    raw = api.request(
        "POST", "/v1/bookings", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert raw.status_code == 422 and raw.json()["error"]["code"] == "validation_error"
    api.patch(f"/v1/services/{uid}", {"status": "active"})
    text = json.dumps(body).encode()
    charset = api.request(
        "POST",
        "/v1/bookings",
        content=text,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 201, charset.text


def test_a_near_booking_wakes_other_processes_when_it_commits(api: Api, database_url: str) -> None:
    if api.backend != "postgresql":
        pytest.skip(
            "on SQLite every scheduler is in this process (tests/scheduling/test_wakeup.py)"
        )
    svc = factories.service(api)
    body = {"service_uid": svc["service_uid"], "bot_user_ns": "u"}
    factories.booking(api, service_uid=svc["service_uid"], bot_user_ns="u")  # u exists

    async def notifications(start_time: str) -> int:
        received: list[object] = []
        conn = await asyncpg.connect(database_url)
        try:
            await conn.add_listener(wakeup.CHANNEL, lambda *args: received.append(args))
            answer = await asyncio.to_thread(
                api.post, "/v1/bookings", body | {"start_time": start_time}
            )
            assert answer.status_code == 201, answer.text
            await asyncio.sleep(0.3)
        finally:
            await conn.close()
        return len(received)

    assert asyncio.run(notifications(factories.future(days=30))) == 0
    assert asyncio.run(notifications(factories.future(days=0, minutes=3))) == 1
