"""The scheduler against the real databases, with the clock passed in (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bookd.config import Settings
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock


def minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


@pytest.fixture
def t0() -> datetime:
    """A whole minute a little ahead, so bookings of other tests (weeks ahead) are not due."""
    return minute(datetime.now(UTC)) + timedelta(minutes=5)


@pytest.fixture
def worker(client: TestClient, clock: TestClock) -> Iterator[Worker]:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    yield Worker(client.app.state.db, settings, clock=clock)  # type: ignore[attr-defined]


def drain(client: TestClient, worker: Worker, now: datetime) -> Any:
    assert client.portal is not None
    return client.portal.call(worker.drain, now)


def types(api: Api, booking_id: int) -> list[str]:
    return [e["type"] for e in factories.events(api, booking_id=booking_id)]


def messages(api: Api, booking_id: int, kind: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/bookings/{booking_id}/{kind}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_lifecycle_by_the_clock(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api, default_duration=30)
    factories.template(api, svc["service_uid"], title="Soon: [SERVICE] at [TIME]", minutes=10)
    factories.template(api, svc["service_uid"], "followups", title="Thanks [NAME]", minutes=0)
    start = t0 + timedelta(minutes=20)
    booking = factories.booking(
        api, service_uid=svc["service_uid"], start_time=factories.iso(start)
    )
    bid = booking["id"]

    drain(client, worker, t0 + timedelta(minutes=9, seconds=59))
    assert types(api, bid) == ["BOOKING_CREATED"]

    drain(client, worker, t0 + timedelta(minutes=10))
    assert types(api, bid)[-1] == "REMINDER_SENDING"
    reminder_event = factories.events(api, booking_id=bid, type="REMINDER_SENDING")[0]
    assert (
        reminder_event["data"]["reminder"]["title"]
        == f"Soon: Consultation at {start.strftime('%H:%M')}"
    )
    assert messages(api, bid, "reminders")[0]["status"] == "sent"

    drain(client, worker, start)
    assert api.get(f"/v1/bookings/{bid}").json()["status"] == "in_progress"

    drain(client, worker, start + timedelta(minutes=30))
    assert api.get(f"/v1/bookings/{bid}").json()["status"] == "completed"
    assert types(api, bid) == [
        "BOOKING_CREATED",
        "REMINDER_SENDING",
        "MEETING_STARTED",
        "MEETING_ENDED",
        "BOOKING_COMPLETED",
        "FOLLOWUP_SENDING",
    ]
    followups = messages(api, bid, "followups")
    assert [f["status"] for f in followups] == ["sent"]


def test_downtime_catch_up_in_order(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api, default_duration=15)
    factories.template(api, svc["service_uid"], title="3h before", hours=3)
    factories.template(api, svc["service_uid"], title="1h before", hours=1)
    start = t0 + timedelta(hours=4)
    bid = factories.booking(api, service_uid=svc["service_uid"], start_time=factories.iso(start))[
        "id"
    ]

    # Nothing ran until 30 minutes after the meeting ended.
    drain(client, worker, start + timedelta(minutes=45))
    reminders = {r["title"]: r for r in messages(api, bid, "reminders")}
    assert reminders["3h before"]["status"] == "skipped"
    assert "late" in reminders["3h before"]["skip_reason"]
    assert reminders["1h before"]["status"] == "sent"
    assert types(api, bid) == [
        "BOOKING_CREATED",
        "REMINDER_SENDING",
        "MEETING_STARTED",
        "MEETING_ENDED",
        "BOOKING_COMPLETED",
    ]


@pytest.mark.parametrize(
    ("late", "sent"), [(timedelta(hours=2), True), (timedelta(hours=2, seconds=1), False)]
)
def test_stale_window_edge(
    api: Api,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    t0: datetime,
    late: timedelta,
    sent: bool,
) -> None:
    clock.set(t0)
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], title="r", hours=5)
    start = t0 + timedelta(hours=6)
    bid = factories.booking(api, service_uid=svc["service_uid"], start_time=factories.iso(start))[
        "id"
    ]
    drain(client, worker, start - timedelta(hours=5) + late)
    assert messages(api, bid, "reminders")[0]["status"] == ("sent" if sent else "skipped")


def test_inactive_service_makes_booking_inactive(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], title="r", minutes=10)
    start = t0 + timedelta(hours=1)
    bid = factories.booking(api, service_uid=svc["service_uid"], start_time=factories.iso(start))[
        "id"
    ]
    assert (
        api.patch(f"/v1/services/{svc['service_uid']}", {"status": "inactive"}).status_code == 200
    )
    drain(client, worker, start - timedelta(minutes=10))
    assert api.get(f"/v1/bookings/{bid}").json()["status"] == "inactive"
    assert messages(api, bid, "reminders")[0]["status"] == "skipped"
    assert types(api, bid) == ["BOOKING_CREATED", "BOOKING_INACTIVE"]


def test_opted_out_bot_user_gets_no_followups(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api, default_duration=10)
    factories.template(api, svc["service_uid"], "followups", title="f", minutes=5)
    assert api.put("/v1/bot-users/quiet", {"followups_opt_out": True}).status_code == 200
    start = t0 + timedelta(minutes=30)
    bid = factories.booking(
        api, service_uid=svc["service_uid"], bot_user_ns="quiet", start_time=factories.iso(start)
    )["id"]
    drain(client, worker, start + timedelta(minutes=30))
    followups = messages(api, bid, "followups")
    assert [f["status"] for f in followups] == ["skipped"]
    assert "opted out" in followups[0]["skip_reason"]
    assert "FOLLOWUP_SENDING" not in types(api, bid)
