"""A change writes the same rows whichever door asked for it: a meeting completed through the API
and one ended by the scheduler's clock (the same transition: in progress → completed, its follow-ups
scheduled) leave the same audit row, event, deliveries, messages and
counter changes, but for who acted and the scheduler's own MEETING_ENDED. Both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import start_receiver

ROWS = {
    "logs": "SELECT id, action, actor, old_status, new_status, details FROM booking_logs"
    " WHERE booking_id = :booking",
    "events": "SELECT seq, type, relayed, occurred_at, data FROM events WHERE booking_id = :booking",
    "deliveries": "SELECT d.id, e.type, d.status, d.attempts, d.next_attempt_at FROM deliveries d"
    " JOIN events e ON e.seq = d.event_seq WHERE e.booking_id = :booking",
    "messages": "SELECT id, kind, sequence, title, status, skip_reason, scheduled_at, sent_at"
    " FROM booking_messages WHERE booking_id = :booking",
    "counters": "SELECT day, * FROM booking_days WHERE workspace_id = :workspace",
}


def snapshot(api: Api, booking_id: int) -> dict[str, list[dict[str, Any]]]:
    async def read(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
        found = {}
        for name, sql in ROWS.items():
            rows = await session.execute(
                text(sql), {"booking": booking_id, "workspace": api.workspace_id}
            )
            found[name] = [dict(row._mapping) for row in rows]
        return found

    return api.run(read)


def written(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> Any:
    """What the change wrote, with what names the workspace, booking or actor left out: the new
    rows of each table, and the counters' changes (day and column: amount)."""
    new: dict[str, Any] = {}
    for name in ("logs", "events", "deliveries"):
        key = {"logs": "id", "events": "seq", "deliveries": "id"}[name]
        seen = {row[key] for row in before[name]}
        rows = [dict(row) for row in after[name] if row[key] not in seen]
        for row in rows:
            row.pop(key)
        new[name] = rows
    for row in new["logs"]:
        row.pop("actor")
        row.pop("action")
        row["details"] = sorted(json.loads(row["details"]))
    for row in new["events"]:
        data = json.loads(row["data"])
        data.pop("actor", None)
        booking = data["booking"]
        for field in ("id", "bot_user_id", "service_id"):
            booking.pop(field, None)
        data.pop("ics_url")
        data.pop("service")
        data.pop("bot_user")
        row["data"] = data
    old_messages = {row["id"]: row for row in before["messages"]}
    new["messages"] = sorted(
        (
            {k: v for k, v in row.items() if k != "id"}
            for row in after["messages"]
            if old_messages.get(row["id"]) != row
        ),
        key=lambda m: (m["kind"], m["sequence"]),
    )

    def totals(rows: list[dict[str, Any]]) -> dict[tuple[Any, str], int]:
        summed: dict[tuple[Any, str], int] = {}
        for row in rows:
            for column, value in row.items():
                if column in ("workspace_id", "service_id", "day", "shard") or not value:
                    continue
                summed[(str(row["day"]), column)] = summed.get((str(row["day"]), column), 0) + value
        return summed

    old, now = totals(before["counters"]), totals(after["counters"])
    new["counters"] = {k: now.get(k, 0) - old.get(k, 0) for k in now.keys() | old.keys()}
    new["counters"] = {k: v for k, v in new["counters"].items() if v}
    return new


def test_completed_through_the_api_and_ended_by_the_clock_write_the_same_rows(
    client: TestClient, clock: TestClock, make_workspace: Any
) -> None:
    receiver = start_receiver()
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    start, end = t0 + timedelta(minutes=20), t0 + timedelta(minutes=50)
    app: Any = client.app
    worker = Worker(app.state.db, app.state.settings, clock=clock)
    assert client.portal is not None
    doors = {"api": make_workspace(), "scheduler": make_workspace()}
    booked: dict[str, int] = {}
    try:
        clock.set(t0)
        for door, api in doors.items():
            url = receiver.url_for(door)
            assert api.post("/v1/triggers", {"name": door, "url": url}).status_code == 201
            uid = factories.service(api, service_uid="consult", default_duration=30)["service_uid"]
            factories.template(api, uid, title="Soon", minutes=10)
            factories.template(api, uid, title="At the start", minutes=0)
            factories.template(api, uid, "followups", title="Thanks", days=1)
            booking = factories.booking(api, service_uid=uid, start_time=factories.iso(start))
            booked[door] = booking["id"]
        # Both meetings start by the clock, their reminders sent.
        client.portal.call(worker.drain, start)
        before = {door: snapshot(api, booked[door]) for door, api in doors.items()}
        for door in doors:
            assert [r["new_status"] for r in before[door]["logs"]][-1] == "in_progress"

        clock.set(end)
        answer = doors["api"].post(f"/v1/bookings/{booked['api']}/complete")
        assert answer.status_code == 200, answer.text
        client.portal.call(worker.tick, end)
        after = {door: snapshot(api, booked[door]) for door, api in doors.items()}
    finally:
        clock.fixed = None
        client.portal.call(worker.dispatcher.aclose)
        receiver.close()

    by_api = written(before["api"], after["api"])
    by_clock = written(before["scheduler"], after["scheduler"])
    # The scheduler says the meeting ended before it says the booking completed.
    ended = [e for e in by_clock["events"] if e["type"] == "MEETING_ENDED"]
    assert len(ended) == 1 and by_clock["events"][0] is ended[0]
    by_clock["events"].remove(ended[0])
    by_clock["deliveries"] = [d for d in by_clock["deliveries"] if d["type"] != "MEETING_ENDED"]
    # The audit rows differ in what the scheduler adds: the time the end was due.
    by_clock["logs"][0]["details"].remove("due_at")

    assert by_api == by_clock
    assert [e["type"] for e in by_api["events"]] == ["BOOKING_COMPLETED"]
    assert [e["relayed"] for e in by_api["events"]] == [True]  # relayed with the change
    assert [(d["type"], d["status"]) for d in by_api["deliveries"]] == [
        ("BOOKING_COMPLETED", "pending")
    ]
    assert [(m["kind"], m["status"]) for m in by_api["messages"]] == [("followup", "pending")]
    assert by_api["logs"] == [
        {"old_status": "in_progress", "new_status": "completed", "details": []}
    ]
    assert by_api["counters"], "the completion changed no counter"
