"""SPEC section 3 through the HTTP API: every (action, status) cell, allowed and refused, and the
effects of each change on reminders, follow-ups, the audit log and the events (SPEC sections 3-5).

The app's clock is fixed (`NOW`) so every time is exact. Statuses the API cannot reach yet
(`in_progress`, `inactive`: the scheduler's) are set with `api.run`, as the scheduler would leave them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.models import Booking, BookingLog, BookingMessage
from bookd.workspaces import service as workspaces
from tests import factories
from tests.conftest import Api, TestClock
from tests.factories import iso

NOW = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
"""The start of every grid booking; its default duration is 30 minutes."""
END = START + timedelta(minutes=30)
NEW_START = NOW + timedelta(days=2)
"""Where the grid's reschedule moves a booking."""
IN_PROGRESS_AT = START + timedelta(minutes=5)

STATUSES = ["pending", "confirmed", "in_progress", "completed", "cancelled", "no_show", "inactive"]
OPEN = {"pending", "confirmed", "in_progress"}
ACTIONS = ["confirm", "reschedule", "cancel", "complete", "no_show", "rate", "update", "delete"]
ALLOWED = {
    "confirm": {"pending"},
    "reschedule": {"pending", "confirmed"},
    "cancel": OPEN,
    "complete": OPEN,
    "no_show": OPEN,
    "rate": set(STATUSES),
    "update": set(STATUSES),
    "delete": set(STATUSES),
}
EVENT = {
    "confirm": "BOOKING_CONFIRMED",
    "reschedule": "BOOKING_RESCHEDULED",
    "cancel": "BOOKING_CANCELLED",
    "complete": "BOOKING_COMPLETED",
    "no_show": "BOOKING_NO_SHOW",
    "rate": "UPDATE_RATING",
    "update": "BOOKING_UPDATED",
    "delete": "BOOKING_DELETED",
}
CANCEL_REASON = "Customer changed plans"
RESCHEDULE_REASON = "Customer asked to move it"


@pytest.fixture
def now(clock: TestClock) -> datetime:
    clock.set(NOW)
    return NOW


# --- helpers ------------------------------------------------------------------------------------


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


def refused(response: Any, code: str) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == code, response.text


def get_booking(api: Api, booking_id: int) -> dict[str, Any]:
    return ok(api.get(f"/v1/bookings/{booking_id}"))


def messages(api: Api, booking_id: int, kind: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/v1/bookings/{booking_id}/{kind}"))["data"]


def logs(api: Api, booking_id: int) -> list[dict[str, Any]]:
    return ok(api.get(f"/v1/bookings/{booking_id}/logs", params={"limit": 200}))["data"]


def snapshot(api: Api, booking_id: int) -> dict[str, Any]:
    """Everything an action could change, as the API shows it."""
    return {
        "booking": get_booking(api, booking_id),
        "reminders": messages(api, booking_id, "reminders"),
        "followups": messages(api, booking_id, "followups"),
        "logs": logs(api, booking_id),
        "events": factories.events(api),
    }


def plain(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without their row id and the free-text skip reason."""
    return [{k: v for k, v in m.items() if k not in ("id", "skip_reason")} for m in items]


def message(
    sequence: int,
    title: str,
    at: datetime,
    status: str = "pending",
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "title": title,
        "description": "",
        "scheduled_at": iso(at),
        "status": status,
        "sent_at": iso(sent_at) if sent_at else None,
    }


def new_events(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert after[: len(before)] == before, "an earlier event changed or vanished"
    return after[len(before) :]


def check_event_data(
    api: Api, event: dict[str, Any], booking: dict[str, Any], at: datetime
) -> None:
    """SPEC section 5: the envelope, and `data` with the booking, its service and its bot user."""
    assert event["id"]
    assert event["workspace_id"] == api.workspace_id
    assert event["occurred_at"] == iso(at)
    data = event["data"]
    assert data["booking"] == booking
    assert data["service"] == ok(api.get(f"/v1/services/{booking['service_uid']}"))
    assert data["bot_user"] == ok(api.get(f"/v1/bot-users/{booking['bot_user_ns']}"))


def set_status(api: Api, booking_id: int, status: str) -> None:
    """What the scheduler does by the clock (tested in tests/scheduling); the API cannot reach
    these statuses, and this table is about what each status allows."""

    async def work(session: AsyncSession) -> None:
        await session.execute(update(Booking).where(Booking.id == booking_id).values(status=status))

    api.run(work)


def mark_sent(api: Api, booking_id: int, sequence: int, sent_at: datetime) -> None:
    """A reminder the scheduler has sent (tests/scheduling covers the sending itself)."""

    async def work(session: AsyncSession) -> None:
        result = await session.execute(
            update(BookingMessage)
            .where(
                BookingMessage.booking_id == booking_id,
                BookingMessage.kind == "reminder",
                BookingMessage.sequence == sequence,
                BookingMessage.status == "pending",
            )
            .values(status="sent", sent_at=sent_at)
        )
        assert result.rowcount == 1  # type: ignore[attr-defined]

    api.run(work)


def skip_pending_reminders(api: Api, booking_id: int) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(BookingMessage)
            .where(BookingMessage.booking_id == booking_id, BookingMessage.status == "pending")
            .values(status="skipped", skip_reason="service inactive")
        )

    api.run(work)


def stored_rows(api: Api, booking_id: int) -> tuple[int, int, int]:
    """(bookings, messages, logs) rows left for `booking_id`: read only, to see a hard delete."""

    async def work(session: AsyncSession) -> tuple[int, int, int]:
        async def count(model: Any, column: Any) -> int:
            found = await session.scalar(
                select(func.count()).select_from(model).where(column == booking_id)
            )
            return int(found or 0)

        return (
            await count(Booking, Booking.id),
            await count(BookingMessage, BookingMessage.booking_id),
            await count(BookingLog, BookingLog.booking_id),
        )

    return api.run(work)


# --- the grid -----------------------------------------------------------------------------------


def grid_service(api: Api) -> str:
    """Reminders: 30 min before (pending at creation), 1 day before (already passed: skipped), an
    inactive one. Follow-ups: at the end, 1 day after, an inactive one."""
    uid: str = factories.service(api, default_duration=30)["service_uid"]
    factories.template(api, uid, title="Half an hour before", minutes=30)
    factories.template(api, uid, title="A day before", days=1)
    factories.template(api, uid, title="Switched off", hours=2, status="inactive")
    factories.template(api, uid, "followups", title="Thanks", minutes=0)
    factories.template(api, uid, "followups", title="How was it", days=1)
    factories.template(api, uid, "followups", title="Switched off too", hours=1, status="inactive")
    return uid


def booking_in(api: Api, clock: TestClock, status: str) -> dict[str, Any]:
    """A grid booking brought into `status` the way it would get there; its `snapshot`."""
    uid = grid_service(api)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    path = f"/v1/bookings/{booking_id}"
    if status == "confirmed":
        ok(api.post(f"{path}/confirm"))
    elif status == "completed":
        ok(api.post(f"{path}/complete"))
    elif status == "cancelled":
        ok(api.post(f"{path}/cancel", {"reason": "set up"}))
    elif status == "no_show":
        ok(api.post(f"{path}/no-show"))
    elif status == "in_progress":
        # The start has passed; the scheduler sent the half-hour reminder and started the meeting.
        clock.set(IN_PROGRESS_AT)
        mark_sent(api, booking_id, 1, START - timedelta(minutes=30))
        set_status(api, booking_id, "in_progress")
    elif status == "inactive":
        # The service was switched off; when something fell due the scheduler deactivated it.
        ok(api.patch(f"/v1/services/{uid}", {"status": "inactive"}))
        set_status(api, booking_id, "inactive")
        skip_pending_reminders(api, booking_id)
    else:
        assert status == "pending"
    state = snapshot(api, booking_id)
    assert state["booking"]["status"] == status
    return state


def perform(
    api: Api, booking_id: int, action: str, *, headers: dict[str, str] | None = None
) -> Any:
    path = f"/v1/bookings/{booking_id}"
    if action == "confirm":
        return api.post(f"{path}/confirm", headers=headers)
    if action == "reschedule":
        body = {"start_time": iso(NEW_START), "reason": RESCHEDULE_REASON}
        return api.post(f"{path}/reschedule", body, headers=headers)
    if action == "cancel":
        return api.post(f"{path}/cancel", {"reason": CANCEL_REASON}, headers=headers)
    if action == "complete":
        return api.post(f"{path}/complete", headers=headers)
    if action == "no_show":
        return api.post(f"{path}/no-show", headers=headers)
    if action == "rate":
        return api.post(f"{path}/rating", {"rating": 4}, headers=headers)
    if action == "update":
        return api.patch(path, {"location": "Room 7", "notes": "Bring your ID"}, headers=headers)
    assert action == "delete"
    return api.delete(path, headers=headers)


def changed_fields(action: str, before: dict[str, Any]) -> dict[str, Any]:
    """The booking fields `action` changes besides `version` and `updated_at`."""
    if action == "confirm":
        return {"status": "confirmed"}
    if action == "reschedule":
        return {
            "start_time": iso(NEW_START),
            "end_time": iso(NEW_START + timedelta(minutes=30)),
            "reschedule_count": before["reschedule_count"] + 1,
            "reschedule_reason": RESCHEDULE_REASON,
        }
    if action == "cancel":
        return {"status": "cancelled", "cancel_reason": CANCEL_REASON}
    if action == "complete":
        return {"status": "completed"}
    if action == "no_show":
        return {"status": "no_show"}
    if action == "rate":
        return {"rating": 4}
    assert action == "update"
    return {"location": "Room 7", "notes": "Bring your ID"}


def check_messages(
    action: str, before: dict[str, Any], after: dict[str, Any], at: datetime
) -> None:
    """The reminders and follow-ups after `action`, from those before it (SPEC sections 3 and 4)."""
    reminders, followups = before["reminders"], before["followups"]
    if action in ("confirm", "rate", "update"):
        assert after["reminders"] == reminders
        assert after["followups"] == followups
    elif action == "cancel":
        assert [m["id"] for m in after["reminders"]] == [m["id"] for m in reminders]
        assert plain(after["reminders"]) == plain(
            [m | {"status": "cancelled"} if m["status"] == "pending" else m for m in reminders]
        )
        assert after["followups"] == followups == []
    elif action in ("complete", "no_show"):
        assert [m["id"] for m in after["reminders"]] == [m["id"] for m in reminders]
        assert plain(after["reminders"]) == plain(
            [m | {"status": "skipped"} if m["status"] == "pending" else m for m in reminders]
        )
        assert followups == []
        assert at < END  # so both follow-ups are still to come
        assert plain(after["followups"]) == [
            message(1, "Thanks", END),
            message(2, "How was it", END + timedelta(days=1)),
        ]
    else:
        assert action == "reschedule"
        # Nothing was sent yet: every reminder is re-created from the active templates (the
        # skipped one too). Row ids are not compared: SQLite may hand a deleted row's id out again.
        assert plain(after["reminders"]) == [
            message(1, "Half an hour before", NEW_START - timedelta(minutes=30)),
            message(2, "A day before", NEW_START - timedelta(days=1)),
        ]
        assert after["followups"] == followups == []


def _cells(allowed: bool) -> list[Any]:
    return [
        pytest.param(action, status, id=f"{action}-from-{status}")
        for action in ACTIONS
        for status in STATUSES
        if (status in ALLOWED[action]) is allowed
    ]


@pytest.mark.parametrize(("action", "status"), _cells(allowed=True))
def test_allowed(api: Api, clock: TestClock, now: datetime, action: str, status: str) -> None:
    before = booking_in(api, clock, status)
    booking_id = before["booking"]["id"]
    at = clock()
    response = perform(api, booking_id, action)

    if action == "delete":
        check_deleted(api, response, before, at)
        return

    body = ok(response)
    after = snapshot(api, booking_id)
    assert body == after["booking"]
    assert body == before["booking"] | changed_fields(action, before["booking"]) | {
        "version": before["booking"]["version"] + 1,
        "updated_at": iso(at),
    }

    # Exactly one audit row, by the same actor as the creation's.
    assert after["logs"][:-1] == before["logs"]
    log = after["logs"][-1]
    assert log["action"] == action
    assert log["actor"] == before["logs"][0]["actor"]
    assert log["old_status"] == status
    assert log["new_status"] == body["status"]
    assert log["created_at"] == iso(at)

    # Exactly its event.
    added = new_events(before["events"], after["events"])
    assert [e["type"] for e in added] == [EVENT[action]]
    check_event_data(api, added[0], body, at)

    check_messages(action, before, after, at)


def check_deleted(api: Api, response: Any, before: dict[str, Any], at: datetime) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""
    booking_id = before["booking"]["id"]
    for suffix in ("", "/reminders", "/followups", "/logs"):
        gone = api.get(f"/v1/bookings/{booking_id}{suffix}")
        assert gone.status_code == 404, suffix
        assert gone.json()["error"]["code"] == "not_found"
    listed = ok(api.get("/v1/bookings"))["data"]
    assert booking_id not in [b["id"] for b in listed]
    assert stored_rows(api, booking_id) == (0, 0, 0)
    added = new_events(before["events"], factories.events(api))
    assert [e["type"] for e in added] == ["BOOKING_DELETED"]
    # The event describes the booking as it was when deleted.
    check_event_data(api, added[0], before["booking"], at)
    mine = factories.events(api, booking_id=booking_id)
    assert mine[-1]["id"] == added[0]["id"]


@pytest.mark.parametrize(("action", "status"), _cells(allowed=False))
def test_refused(api: Api, clock: TestClock, now: datetime, action: str, status: str) -> None:
    before = booking_in(api, clock, status)
    booking_id = before["booking"]["id"]
    response = perform(api, booking_id, action)
    refused(response, "invalid_transition")
    assert status in response.json()["error"]["message"]
    assert snapshot(api, booking_id) == before


def test_the_grid_covers_every_cell() -> None:
    cells = {(p.values[0], p.values[1]) for p in _cells(True) + _cells(False)}
    assert len(cells) == len(ACTIONS) * len(STATUSES) == 56


# --- create -------------------------------------------------------------------------------------


def test_create_schedules_reminders_from_active_templates_only(api: Api, now: datetime) -> None:
    uid = factories.service(api, default_duration=40)["service_uid"]
    factories.template(api, uid, title="Soon", minutes=30)
    factories.template(api, uid, title="Yesterday", days=1)  # already passed: skipped
    factories.template(api, uid, title="Off", hours=2, status="inactive")  # no instance
    factories.template(api, uid, title="At the start", minutes=0)
    factories.template(api, uid, "followups", title="Thanks", minutes=0)

    body = factories.booking(api, service_uid=uid, start_time=iso(START))
    assert body["status"] == "pending"
    assert body["start_time"] == iso(START)
    assert body["duration"] == 40  # the service's default
    assert body["end_time"] == iso(START + timedelta(minutes=40))
    assert body["reschedule_count"] == 0
    assert body["rating"] is None
    assert body["created_at"] == body["updated_at"] == iso(NOW)
    booking_id = body["id"]

    reminders = messages(api, booking_id, "reminders")
    assert plain(reminders) == [
        message(1, "Soon", START - timedelta(minutes=30)),
        message(2, "Yesterday", START - timedelta(days=1), "skipped"),
        message(4, "At the start", START),
    ]
    assert messages(api, booking_id, "followups") == []  # never at creation

    [log] = logs(api, booking_id)
    assert log["action"] == "create"
    assert (log["old_status"], log["new_status"]) == (None, "pending")
    assert log["actor"]
    [event] = factories.events(api)
    assert event["type"] == "BOOKING_CREATED"
    check_event_data(api, event, get_booking(api, booking_id), NOW)


def test_create_confirmed(api: Api, now: datetime) -> None:
    uid = factories.service(api, default_duration=30)["service_uid"]
    body = factories.booking(api, service_uid=uid, start_time=iso(START), status="confirmed")
    assert body["status"] == "confirmed"
    [log] = logs(api, body["id"])
    assert (log["old_status"], log["new_status"]) == (None, "confirmed")
    assert [e["type"] for e in factories.events(api)] == ["BOOKING_CREATED"]


def test_create_for_an_inactive_service_is_refused(api: Api, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    ok(api.patch(f"/v1/services/{uid}", {"status": "inactive"}))
    response = api.post(
        "/v1/bookings",
        {"service_uid": uid, "bot_user_ns": "newcomer", "start_time": iso(START)},
    )
    refused(response, "conflict")
    assert ok(api.get("/v1/bookings"))["data"] == []
    assert factories.events(api) == []
    assert api.get("/v1/bot-users/newcomer").status_code == 404

    ok(api.patch(f"/v1/services/{uid}", {"status": "active"}))
    factories.booking(api, service_uid=uid, bot_user_ns="newcomer", start_time=iso(START))


# --- reschedule ---------------------------------------------------------------------------------


def test_reschedule(api: Api, clock: TestClock, now: datetime) -> None:
    uid = factories.service(api, default_duration=30)["service_uid"]
    factories.template(api, uid, title="Day before", days=1)
    factories.template(api, uid, title="Hour before", hours=1)
    factories.template(api, uid, title="Ten minutes before", minutes=10)
    factories.template(api, uid, "followups", title="Thanks", minutes=0)
    s0 = NOW + timedelta(days=3)
    booking = factories.booking(api, service_uid=uid, start_time=iso(s0), duration=45)
    booking_id = booking["id"]

    # The day-before reminder goes out.
    clock.set(s0 - timedelta(days=1) + timedelta(minutes=1))
    mark_sent(api, booking_id, 1, s0 - timedelta(days=1))
    reminders = messages(api, booking_id, "reminders")
    assert plain(reminders) == [
        message(1, "Day before", s0 - timedelta(days=1), "sent", s0 - timedelta(days=1)),
        message(2, "Hour before", s0 - timedelta(hours=1)),
        message(3, "Ten minutes before", s0 - timedelta(minutes=10)),
    ]

    # The templates change; the booking keeps its instances until it is rescheduled.
    path = f"/v1/services/{uid}/reminders"
    ok(api.patch(f"{path}/1", {"days": 2, "title": "Two days before"}))
    ok(api.patch(f"{path}/2", {"hours": 2, "title": "Two hours before"}))
    ok(api.patch(f"{path}/3", {"status": "inactive"}))
    assert factories.template(api, uid, title="Five minutes before", minutes=5)["sequence"] == 4
    assert messages(api, booking_id, "reminders") == reminders

    before = snapshot(api, booking_id)
    at = clock()
    s1 = NOW + timedelta(days=5)
    body = ok(
        api.post(
            f"/v1/bookings/{booking_id}/reschedule",
            {"start_time": iso(s1), "status": "confirmed", "reason": "Customer asked"},
        )
    )
    assert body == before["booking"] | {
        "status": "confirmed",
        "start_time": iso(s1),
        "end_time": iso(s1 + timedelta(minutes=45)),  # the current duration, not the default
        "duration": 45,
        "reschedule_count": 1,
        "reschedule_reason": "Customer asked",
        "version": before["booking"]["version"] + 1,
        "updated_at": iso(at),
    }
    after = snapshot(api, booking_id)
    assert after["booking"] == body
    # The sent reminder is kept as it was; the others are re-created from the current templates.
    assert after["reminders"][0] == reminders[0]
    assert plain(after["reminders"]) == [
        message(1, "Day before", s0 - timedelta(days=1), "sent", s0 - timedelta(days=1)),
        message(2, "Two hours before", s1 - timedelta(hours=2)),
        message(4, "Five minutes before", s1 - timedelta(minutes=5)),
    ]
    assert after["followups"] == []

    [log] = after["logs"][len(before["logs"]) :]
    assert (log["action"], log["old_status"], log["new_status"]) == (
        "reschedule",
        "pending",
        "confirmed",
    )
    old_times = {
        "start_time": iso(s0),
        "end_time": iso(s0 + timedelta(minutes=45)),
        "duration": 45,
    }
    new_times = {
        "start_time": iso(s1),
        "end_time": iso(s1 + timedelta(minutes=45)),
        "duration": 45,
    }
    assert log["details"]["old"] == old_times
    assert log["details"]["new"] == new_times
    [event] = new_events(before["events"], after["events"])
    assert event["type"] == "BOOKING_RESCHEDULED"  # and no BOOKING_CONFIRMED
    check_event_data(api, event, body, at)
    assert event["data"]["reschedule"]["old"] == old_times
    assert event["data"]["reschedule"]["new"] == new_times

    # Again, with a new duration and back to pending.
    s2 = s1 + timedelta(days=1)
    body = ok(
        api.post(
            f"/v1/bookings/{booking_id}/reschedule",
            {"start_time": iso(s2), "duration": 60, "status": "pending", "reason": "Once more"},
        )
    )
    assert body["status"] == "pending"
    assert body["duration"] == 60
    assert body["end_time"] == iso(s2 + timedelta(minutes=60))
    assert body["reschedule_count"] == 2
    assert body["reschedule_reason"] == "Once more"
    assert plain(messages(api, booking_id, "reminders")) == [
        message(1, "Day before", s0 - timedelta(days=1), "sent", s0 - timedelta(days=1)),
        message(2, "Two hours before", s2 - timedelta(hours=2)),
        message(4, "Five minutes before", s2 - timedelta(minutes=5)),
    ]


@pytest.mark.parametrize("status", ["pending", "confirmed"])
def test_reschedule_keeps_the_status_by_default(api: Api, now: datetime, status: str) -> None:
    uid = factories.service(api)["service_uid"]
    booking = factories.booking(api, service_uid=uid, start_time=iso(START), status=status)
    body = ok(
        api.post(
            f"/v1/bookings/{booking['id']}/reschedule",
            {"start_time": iso(NEW_START), "reason": "Later"},
        )
    )
    assert body["status"] == status
    assert [log["new_status"] for log in logs(api, booking["id"])] == [status, status]


def test_reschedule_recreates_skipped_reminders(api: Api, clock: TestClock, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Day before", days=1)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(NOW + timedelta(hours=2)))[
        "id"
    ]
    assert plain(messages(api, booking_id, "reminders")) == [
        message(1, "Day before", NOW + timedelta(hours=2) - timedelta(days=1), "skipped")
    ]
    later = NOW + timedelta(days=3)
    ok(api.post(f"/v1/bookings/{booking_id}/reschedule", {"start_time": iso(later), "reason": "a"}))
    assert plain(messages(api, booking_id, "reminders")) == [
        message(1, "Day before", later - timedelta(days=1))
    ]
    # Moved to within a day: the reminder's time has passed again.
    clock.advance(timedelta(hours=1))
    sooner = NOW + timedelta(hours=5)
    ok(
        api.post(
            f"/v1/bookings/{booking_id}/reschedule", {"start_time": iso(sooner), "reason": "b"}
        )
    )
    assert plain(messages(api, booking_id, "reminders")) == [
        message(1, "Day before", sooner - timedelta(days=1), "skipped")
    ]


# --- cancel, complete, no-show ------------------------------------------------------------------


def test_cancel(api: Api, clock: TestClock, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Day before", days=1)
    factories.template(api, uid, title="Hour before", hours=1)
    factories.template(api, uid, title="Two days before", days=2)
    factories.template(api, uid, "followups", title="Thanks", minutes=0)
    start = NOW + timedelta(hours=30)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(start))["id"]
    clock.set(NOW + timedelta(hours=7))
    mark_sent(api, booking_id, 1, start - timedelta(days=1))

    before = snapshot(api, booking_id)
    body = ok(api.post(f"/v1/bookings/{booking_id}/cancel", {"reason": "Customer is ill"}))
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "Customer is ill"
    assert get_booking(api, booking_id) == body
    after = snapshot(api, booking_id)
    assert plain(after["reminders"]) == [
        message(1, "Day before", start - timedelta(days=1), "sent", start - timedelta(days=1)),
        message(2, "Hour before", start - timedelta(hours=1), "cancelled"),
        message(3, "Two days before", start - timedelta(days=2), "skipped"),
    ]
    assert after["followups"] == []  # cancelled bookings never get follow-ups
    [log] = after["logs"][len(before["logs"]) :]
    assert (log["action"], log["old_status"], log["new_status"]) == (
        "cancel",
        "pending",
        "cancelled",
    )
    [event] = new_events(before["events"], after["events"])
    assert event["type"] == "BOOKING_CANCELLED"
    assert event["data"]["booking"]["cancel_reason"] == "Customer is ill"


@pytest.mark.parametrize(
    ("path", "status", "event"),
    [
        ("complete", "completed", "BOOKING_COMPLETED"),
        ("no-show", "no_show", "BOOKING_NO_SHOW"),
    ],
)
def test_complete_and_no_show(
    api: Api, clock: TestClock, now: datetime, path: str, status: str, event: str
) -> None:
    uid = factories.service(api, default_duration=30)["service_uid"]
    factories.template(api, uid, title="Half an hour before", minutes=30)
    factories.template(api, uid, title="At the start", minutes=0)
    for title, offset, state in [
        ("Thanks", {"minutes": 0}, "active"),
        ("An hour later", {"hours": 1}, "active"),
        ("A day later", {"days": 1}, "active"),
        ("Off", {"minutes": 30}, "inactive"),
    ]:
        factories.template(api, uid, "followups", title=title, status=state, **offset)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    assert messages(api, booking_id, "followups") == []

    # Marked an hour after the meeting ended; only the first reminder had gone out.
    clock.set(END + timedelta(minutes=30))
    mark_sent(api, booking_id, 1, START - timedelta(minutes=30))
    before = snapshot(api, booking_id)
    body = ok(api.post(f"/v1/bookings/{booking_id}/{path}"))
    assert body["status"] == status
    after = snapshot(api, booking_id)
    half = START - timedelta(minutes=30)
    assert plain(after["reminders"]) == [
        message(1, "Half an hour before", half, "sent", half),
        message(2, "At the start", START, "skipped"),
    ]
    # From the end time; one whose time already passed is skipped.
    assert plain(after["followups"]) == [
        message(1, "Thanks", END, "skipped"),
        message(2, "An hour later", END + timedelta(hours=1)),
        message(3, "A day later", END + timedelta(days=1)),
    ]
    [log] = after["logs"][len(before["logs"]) :]
    assert (log["old_status"], log["new_status"]) == ("pending", status)
    assert [e["type"] for e in new_events(before["events"], after["events"])] == [event]


def test_followups_never_before_completion_nor_for_cancelled(api: Api, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Hour before", hours=1)
    factories.template(api, uid, "followups", title="Thanks", minutes=0)
    factories.template(api, uid, "followups", title="Later", days=2)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(NEW_START))["id"]
    path = f"/v1/bookings/{booking_id}"
    steps = [
        lambda: api.post(f"{path}/confirm"),
        lambda: api.post(f"{path}/reschedule", {"start_time": iso(NEW_START), "reason": "r"}),
        lambda: api.post(f"{path}/rating", {"rating": 3}),
        lambda: api.patch(path, {"notes": "n"}),
        lambda: api.post(f"{path}/cancel", {"reason": "c"}),
        lambda: api.post(f"{path}/rating", {"rating": 1}),
        lambda: api.patch(path, {"notes": "after"}),
    ]
    assert messages(api, booking_id, "followups") == []
    for step in steps:
        ok(step())
        assert messages(api, booking_id, "followups") == []


# --- rating, details ----------------------------------------------------------------------------


def test_rating_logs_old_and_new(api: Api, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    ok(api.post(f"/v1/bookings/{booking_id}/complete"))
    for old, new in [(None, 4), (4, 0)]:
        before = snapshot(api, booking_id)
        body = ok(api.post(f"/v1/bookings/{booking_id}/rating", {"rating": new}))
        assert body["rating"] == new
        assert body["status"] == "completed"
        after = snapshot(api, booking_id)
        [log] = after["logs"][len(before["logs"]) :]
        assert log["action"] == "rate"
        assert (log["old_status"], log["new_status"]) == ("completed", "completed")
        assert (log["details"]["old"], log["details"]["new"]) == (old, new)
        [event] = new_events(before["events"], after["events"])
        assert event["type"] == "UPDATE_RATING"
        assert event["data"]["rating"] == {"old": old, "new": new}
        check_event_data(api, event, body, NOW)


def test_update_details_leaves_status_and_schedule_alone(api: Api, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Hour before", hours=1)
    booking_id = factories.booking(
        api, service_uid=uid, start_time=iso(NEW_START), status="confirmed"
    )["id"]
    before = snapshot(api, booking_id)
    changes = {
        "location": "Room 12",
        "source": "telegram",
        "metadata": '{"channel": "bot", "n": 2}',
        "notes": "Wheelchair access",
    }
    body = ok(api.patch(f"/v1/bookings/{booking_id}", changes))
    assert body == before["booking"] | changes | {
        "version": before["booking"]["version"] + 1,
        "updated_at": iso(NOW),
    }
    after = snapshot(api, booking_id)
    assert after["reminders"] == before["reminders"]
    assert after["followups"] == before["followups"]
    [log] = after["logs"][len(before["logs"]) :]
    assert (log["action"], log["old_status"], log["new_status"]) == (
        "update",
        "confirmed",
        "confirmed",
    )
    [event] = new_events(before["events"], after["events"])
    assert event["type"] == "BOOKING_UPDATED"
    check_event_data(api, event, body, NOW)


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_the_booking_and_everything_of_it(
    api: Api, clock: TestClock, now: datetime
) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Half an hour before", minutes=30)
    factories.template(api, uid, "followups", title="Thanks", hours=1)
    keep_id = factories.booking(api, service_uid=uid, bot_user_ns="other", start_time=iso(START))[
        "id"
    ]
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    clock.set(END)
    mark_sent(api, booking_id, 1, START - timedelta(minutes=30))
    ok(api.post(f"/v1/bookings/{booking_id}/complete"))
    ok(api.post(f"/v1/bookings/{booking_id}/rating", {"rating": 5}))
    assert len(messages(api, booking_id, "followups")) == 1
    kept = snapshot(api, keep_id)
    before = snapshot(api, booking_id)
    assert stored_rows(api, booking_id) == (1, 2, 3)

    check_deleted(api, api.delete(f"/v1/bookings/{booking_id}"), before, END)
    # The history up to the delete stays in the outbox; the other booking is untouched.
    assert [e["type"] for e in factories.events(api, booking_id=booking_id)] == [
        "BOOKING_CREATED",
        "BOOKING_COMPLETED",
        "UPDATE_RATING",
        "BOOKING_DELETED",
    ]
    assert {k: v for k, v in snapshot(api, keep_id).items() if k != "events"} == {
        k: v for k, v in kept.items() if k != "events"
    }
    assert api.delete(f"/v1/bookings/{booking_id}").status_code == 404


def test_deleting_a_service_with_bookings_is_refused(api: Api, now: datetime) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, title="Hour before", hours=1)
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    ok(api.post(f"/v1/bookings/{booking_id}/cancel", {"reason": "c"}))
    service = ok(api.get(f"/v1/services/{uid}"))
    templates = ok(api.get(f"/v1/services/{uid}/reminders"))
    before = snapshot(api, booking_id)

    refused(api.delete(f"/v1/services/{uid}"), "conflict")
    assert ok(api.get(f"/v1/services/{uid}")) == service
    assert ok(api.get(f"/v1/services/{uid}/reminders")) == templates
    assert snapshot(api, booking_id) == before

    ok(api.delete(f"/v1/bookings/{booking_id}"), 204)
    ok(api.delete(f"/v1/services/{uid}"), 204)
    assert api.get(f"/v1/services/{uid}").status_code == 404


# --- audit actor, If-Match ----------------------------------------------------------------------


def test_the_log_names_the_acting_key(api: Api, now: datetime) -> None:
    async def second_key(session: AsyncSession) -> workspaces.IssuedKey:
        return await workspaces.issue_api_key(session, api.workspace_id, NOW, name="second")

    other = api.run(second_key)
    uid = factories.service(api)["service_uid"]
    booking_id = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    ok(
        api.post(
            f"/v1/bookings/{booking_id}/confirm",
            headers={"Authorization": f"Bearer {other.key}"},
        )
    )
    first, second = logs(api, booking_id)
    assert first["actor"] != second["actor"]
    assert str(other.id) in second["actor"]


@pytest.mark.parametrize("action", ACTIONS)
def test_a_stale_if_match_changes_nothing(
    api: Api, clock: TestClock, now: datetime, action: str
) -> None:
    booking_id = booking_in(api, clock, "pending")["booking"]["id"]
    version = ok(api.patch(f"/v1/bookings/{booking_id}", {"notes": "bump"}))["version"]
    before = snapshot(api, booking_id)
    for stale in (version - 1, version + 1):
        response = perform(api, booking_id, action, headers={"If-Match": str(stale)})
        refused(response, "conflict")
        assert snapshot(api, booking_id) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_a_matching_if_match_is_allowed(
    api: Api, clock: TestClock, now: datetime, action: str
) -> None:
    booking_id = booking_in(api, clock, "pending")["booking"]["id"]
    version = ok(api.patch(f"/v1/bookings/{booking_id}", {"notes": "bump"}))["version"]
    # The ETag forms `"3"` and `W/"3"` name the same version as `3`.
    header = {"confirm": f'"{version}"', "cancel": f'W/"{version}"'}.get(action, str(version))
    before = snapshot(api, booking_id)
    response = perform(api, booking_id, action, headers={"If-Match": header})
    if action == "delete":
        check_deleted(api, response, before, NOW)
        return
    body = ok(response)
    assert body["version"] == version + 1
    assert [e["type"] for e in new_events(before["events"], factories.events(api))] == [
        EVENT[action]
    ]


def test_a_deleted_bookings_id_is_not_given_out_again(api: Api, now: datetime) -> None:
    """Deleted for good: a new booking must not take over the old one's id (and with it the old
    one's events under `/v1/events?booking_id=`). SQLite would reuse the newest rowid without
    AUTOINCREMENT."""
    uid = factories.service(api)["service_uid"]
    first = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    ok(api.delete(f"/v1/bookings/{first}"), 204)
    second = factories.booking(api, service_uid=uid, start_time=iso(START))["id"]
    assert second != first
    assert [e["type"] for e in factories.events(api, booking_id=second)] == ["BOOKING_CREATED"]
