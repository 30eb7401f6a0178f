"""Racing requests on one booking (SPEC §3: concurrent actions are serialised, none lost), racing
idempotent creations (SPEC §6) and racing first uses of a bot user (SPEC §1).

The races are real: the TestClient's portal takes calls from many threads, so requests released
together by a barrier run interleaved on the app's event loop, each in its own transaction and on
its own connection. PostgreSQL serialises them with row locks (`SELECT … FOR UPDATE`), SQLite with
its single writer (`BEGIN IMMEDIATE`); both must give the same answers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.workspaces.models import BotUser
from tests import factories
from tests.conftest import Api

ROUNDS = 5
RACERS = 20

# action path -> (body, resulting status, event)
TERMINAL: dict[str, tuple[dict[str, Any] | None, str, str]] = {
    "cancel": ({"reason": "racing cancel"}, "cancelled", "BOOKING_CANCELLED"),
    "complete": (None, "completed", "BOOKING_COMPLETED"),
    "no-show": (None, "no_show", "BOOKING_NO_SHOW"),
}


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, all released at once; answers in the order given."""
    barrier = threading.Barrier(len(calls))

    def fire(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(fire, call) for call in calls]
        return [future.result(timeout=120) for future in futures]


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


def service_with_messages(api: Api) -> str:
    """A service with one reminder and one follow-up template."""
    svc = factories.service(api, default_duration=60)
    factories.template(api, svc["service_uid"], "reminders", title="Tomorrow", days=1)
    factories.template(api, svc["service_uid"], "followups", title="How was it?", hours=1)
    uid: str = svc["service_uid"]
    return uid


def history(api: Api, booking_id: int) -> tuple[list[dict[str, Any]], list[str]]:
    logs = api.get(f"/v1/bookings/{booking_id}/logs", params={"limit": 200})
    assert logs.status_code == 200, logs.text
    types = [e["type"] for e in factories.events(api, booking_id=booking_id)]
    return logs.json()["data"], types


def messages(api: Api, booking_id: int, kind: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/bookings/{booking_id}/{kind}")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def assert_single_change(
    api: Api, booking_id: int, *, action: str, status: str, event: str, version: int
) -> dict[str, Any]:
    """Exactly one change after the creation: in the booking, its log, its events, its messages."""
    current = api.get(f"/v1/bookings/{booking_id}")
    assert current.status_code == 200, current.text
    booking = current.json()
    assert booking["status"] == status
    assert booking["version"] == version + 1

    logs, types = history(api, booking_id)
    assert [(log["action"], log["old_status"], log["new_status"]) for log in logs] == [
        ("create", None, "pending"),
        (action, "pending", status),
    ]
    assert types == ["BOOKING_CREATED", event]

    reminders = messages(api, booking_id, "reminders")
    followups = messages(api, booking_id, "followups")
    assert [r["sequence"] for r in reminders] == [1]
    if status == "cancelled":
        assert reminders[0]["status"] == "cancelled"
        assert followups == []
    elif status in ("completed", "no_show"):
        assert reminders[0]["status"] == "skipped"
        # Follow-ups are scheduled once, by the one change that applied.
        assert [(f["sequence"], f["status"]) for f in followups] == [(1, "pending")]
    else:  # a reschedule: the unsent reminder was re-created once, for the new start
        assert reminders[0]["status"] == "pending"
        assert followups == []
    return booking


def test_racing_terminal_actions_apply_exactly_once(api: Api) -> None:
    paths = list(TERMINAL)
    uid = service_with_messages(api)
    for round_ in range(ROUNDS):
        booking = factories.booking(api, service_uid=uid)
        bid = booking["id"]
        # Rotate the mix so that each action also starts the queue in some round.
        chosen = [paths[(i + round_) % len(paths)] for i in range(RACERS)]
        answers = race(
            [partial(api.post, f"/v1/bookings/{bid}/{p}", TERMINAL[p][0]) for p in chosen]
        )

        codes = Counter(a.status_code for a in answers)
        assert codes == {200: 1, 409: RACERS - 1}, [a.text for a in answers]
        ((winner, won),) = [
            (p, a.json()) for p, a in zip(chosen, answers, strict=True) if a.status_code == 200
        ]
        losers = [a for a in answers if a.status_code == 409]
        assert {error_code(a) for a in losers} == {"invalid_transition"}

        body, status, event = TERMINAL[winner]
        assert won["status"] == status
        action = winner.replace("-", "_")
        final = assert_single_change(
            api, bid, action=action, status=status, event=event, version=booking["version"]
        )
        assert final["cancel_reason"] == (body["reason"] if body else None)


def test_racing_if_match_changes_apply_exactly_once(api: Api) -> None:
    new_start = factories.future(days=45)
    kinds: dict[str, tuple[dict[str, Any] | None, str, str]] = {
        **TERMINAL,
        "reschedule": (
            {"start_time": new_start, "reason": "racing reschedule"},
            "pending",
            "BOOKING_RESCHEDULED",
        ),
    }
    paths = list(kinds)
    uid = service_with_messages(api)
    for round_ in range(ROUNDS):
        booking = factories.booking(api, service_uid=uid)
        bid, version = booking["id"], booking["version"]
        headers = {"If-Match": str(version)}
        chosen = [paths[(i + round_) % len(paths)] for i in range(RACERS)]
        answers = race(
            [
                partial(api.post, f"/v1/bookings/{bid}/{p}", kinds[p][0], headers=headers)
                for p in chosen
            ]
        )

        codes = Counter(a.status_code for a in answers)
        assert codes == {200: 1, 409: RACERS - 1}, [a.text for a in answers]
        (winner,) = [p for p, a in zip(chosen, answers, strict=True) if a.status_code == 200]
        for answer in answers:
            if answer.status_code == 409:
                assert error_code(answer) in ("invalid_transition", "conflict"), answer.text

        _body, status, event = kinds[winner]
        final = assert_single_change(
            api,
            bid,
            action=winner.replace("-", "_"),
            status=status,
            event=event,
            version=version,
        )
        if winner == "reschedule":
            assert final["start_time"] == new_start
            assert final["reschedule_count"] == 1
        else:
            assert final["start_time"] == booking["start_time"]
            assert final["reschedule_count"] == 0


def test_racing_reschedules_without_if_match_lose_nothing(api: Api) -> None:
    """Every reschedule applies, one after the other: each starts from the previous one's result."""
    uid = service_with_messages(api)
    booking = factories.booking(api, service_uid=uid)
    bid = booking["id"]
    racers = 10
    starts = [factories.future(days=40 + i) for i in range(racers)]
    answers = race(
        [
            partial(api.post, f"/v1/bookings/{bid}/reschedule", {"start_time": s, "reason": s})
            for s in starts
        ]
    )
    assert [a.status_code for a in answers] == [200] * racers, [a.text for a in answers]

    final = api.get(f"/v1/bookings/{bid}").json()
    assert final["reschedule_count"] == racers
    assert final["version"] == booking["version"] + racers
    logs, types = history(api, bid)
    assert types == ["BOOKING_CREATED"] + ["BOOKING_RESCHEDULED"] * racers
    changes = [log["details"] for log in logs[1:]]
    assert len(changes) == racers
    # Serialised: each change's "old" is exactly the previous change's "new".
    previous = {k: booking[k] for k in ("start_time", "end_time", "duration")}
    for change in changes:
        assert change["old"] == previous
        previous = change["new"]
    assert final["start_time"] == previous["start_time"]
    assert sorted(c["new"]["start_time"] for c in changes) == sorted(starts)
    # The unsent reminder was replaced each time, never duplicated.
    reminders = messages(api, bid, "reminders")
    assert [(r["sequence"], r["status"]) for r in reminders] == [(1, "pending")]
    assert uid == final["service_uid"]


def test_racing_creations_with_one_idempotency_key_create_one_booking(api: Api) -> None:
    svc = factories.service(api)
    body = {
        "service_uid": svc["service_uid"],
        "bot_user_ns": "idem-user",
        "start_time": factories.future(days=3),
        "notes": "once",
    }
    headers = {"Idempotency-Key": "create-once-1"}
    answers = race([partial(api.post, "/v1/bookings", body, headers=headers)] * 10)

    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert all(a.json() == answers[0].json() for a in answers)

    listed = api.get("/v1/bookings", params={"bot_user_ns": "idem-user"}).json()["data"]
    assert [b["id"] for b in listed] == list(ids)
    assert [e["type"] for e in factories.events(api)] == ["BOOKING_CREATED"]

    # Later: the same key and body answer the first result; another body is refused.
    again = api.post("/v1/bookings", body, headers=headers)
    assert again.status_code == 201
    assert again.json() == answers[0].json()
    other = api.post("/v1/bookings", {**body, "notes": "twice"}, headers=headers)
    assert other.status_code == 409, other.text
    assert error_code(other) == "conflict"
    assert len(api.get("/v1/bookings").json()["data"]) == 1


def test_racing_creations_with_one_key_and_two_bodies(api: Api) -> None:
    """Whichever body commits first owns the key: its twins get its answer, the others a 409."""
    svc = factories.service(api)
    start = factories.future(days=3)
    bodies = [
        {
            "service_uid": svc["service_uid"],
            "bot_user_ns": "idem-user",
            "start_time": start,
            "notes": f"body {i % 2}",
        }
        for i in range(10)
    ]
    headers = {"Idempotency-Key": "create-once-2"}
    answers = race([partial(api.post, "/v1/bookings", b, headers=headers) for b in bodies])

    created = [(b, a) for b, a in zip(bodies, answers, strict=True) if a.status_code == 201]
    refused = [(b, a) for b, a in zip(bodies, answers, strict=True) if a.status_code == 409]
    assert len(created) + len(refused) == 10, [a.text for a in answers]
    assert len(created) == 5 and len(refused) == 5
    assert len({a.json()["id"] for _b, a in created}) == 1
    winning_notes = {b["notes"] for b, _a in created}
    losing_notes = {b["notes"] for b, _a in refused}
    assert len(winning_notes) == 1 and len(losing_notes) == 1
    assert winning_notes != losing_notes
    assert {error_code(a) for _b, a in refused} == {"conflict"}

    listed = api.get("/v1/bookings").json()["data"]
    assert len(listed) == 1
    assert listed[0]["notes"] == winning_notes.pop()


def test_racing_first_use_of_a_bot_user_creates_it_once(api: Api) -> None:
    svc = factories.service(api)
    ns = "brand-new-user"
    starts = [factories.future(days=5, hours=i) for i in range(10)]
    bodies = [
        {"service_uid": svc["service_uid"], "bot_user_ns": ns, "start_time": s} for s in starts
    ]
    answers = race([partial(api.post, "/v1/bookings", b) for b in bodies])
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 10
    assert {a.json()["bot_user_ns"] for a in answers} == {ns}

    async def count(session: AsyncSession) -> int:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(BotUser)
                .where(BotUser.workspace_id == api.workspace_id, BotUser.ns == ns)
            )
            or 0
        )

    assert api.run(count) == 1
    assert api.get(f"/v1/bot-users/{ns}").status_code == 200
    listed = api.get("/v1/bookings", params={"bot_user_ns": ns}).json()["data"]
    assert sorted(b["start_time"] for b in listed) == sorted(starts)
