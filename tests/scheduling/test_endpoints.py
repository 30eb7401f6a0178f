"""The scheduler's API: the schedule preview, the status, the metrics; and rules the clock drives
that the lifecycle tests do not reach (inactive templates, rendering in the bot user's timezone,
cancelled bookings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bookd.worker import Worker
from tests import factories
from tests.conftest import METRICS_TOKEN, Api, TestClock


@pytest.fixture
def t0() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)


@pytest.fixture
def worker(client: TestClient, clock: TestClock) -> Worker:
    app: Any = client.app
    return Worker(app.state.db, app.state.settings, clock=clock)


def drain(client: TestClient, worker: Worker, now: datetime) -> Any:
    assert client.portal is not None
    return client.portal.call(worker.drain, now)


def test_preview_creates_nothing(make_workspace: Any, clock: TestClock) -> None:
    api: Api = make_workspace(timezone="Europe/Berlin")
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    svc = factories.service(api, default_duration=60)
    uid = svc["service_uid"]
    factories.template(api, uid, title="day before", days=1)
    factories.template(api, uid, title="off", hours=1, status="inactive")
    factories.template(api, uid, title="a year before", days=365)
    factories.template(api, uid, "followups", title="after", hours=2)
    # 10:00 in Berlin on the day of the spring switch of 2027 (28 March, already summer time).
    response = api.get(
        f"/v1/services/{uid}/preview", params={"start_time": "2027-03-28T10:00:00+02:00"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "Europe/Berlin"
    assert body["end_time"] == "2027-03-28T09:00:00Z"
    reminders = {r["title"]: r for r in body["reminders"]}
    assert set(reminders) == {"day before", "a year before"}
    # Calendar days keep the wall clock: 10:00 CET the day before is 09:00Z, 23 h earlier.
    assert reminders["day before"] == {
        "sequence": 1,
        "title": "day before",
        "scheduled_at": "2027-03-27T09:00:00Z",
        "status": "pending",
    }
    assert reminders["a year before"]["status"] == "skipped"
    assert body["followups"] == [
        {
            "sequence": 1,
            "title": "after",
            "scheduled_at": "2027-03-28T11:00:00Z",
            "status": "pending",
        }
    ]
    with_duration = api.get(
        f"/v1/services/{uid}/preview",
        params={"start_time": "2027-03-28T10:00:00+02:00", "duration": 15},
    ).json()
    assert with_duration["end_time"] == "2027-03-28T08:15:00Z"
    assert api.get("/v1/bookings").json()["data"] == []
    assert factories.events(api) == []


def test_preview_refuses_bad_input(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    naive = api.get(f"/v1/services/{uid}/preview", params={"start_time": "2030-01-01T10:00:00"})
    assert naive.status_code == 422
    assert naive.json()["error"]["details"][0]["field"] == "start_time"
    assert (
        api.get(
            "/v1/services/nope/preview", params={"start_time": "2030-01-01T10:00:00Z"}
        ).status_code
        == 404
    )


def test_status_shows_the_backlog_and_its_age(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api, default_duration=30)
    factories.template(api, svc["service_uid"], title="r", minutes=10)
    start = t0 + timedelta(minutes=20)
    factories.booking(api, service_uid=svc["service_uid"], start_time=factories.iso(start))
    clock.set(start + timedelta(seconds=90))
    status = api.get("/v1/scheduler/status").json()
    assert status["due_backlog"] == {"starts": 1, "ends": 0, "reminders": 1, "followups": 0}
    assert status["oldest_due_at"] == factories.iso(start - timedelta(minutes=10))
    assert status["oldest_lateness_seconds"] == 11 * 60 + 30

    drain(client, worker, start + timedelta(seconds=90))
    status = api.get("/v1/scheduler/status").json()
    assert status["due_backlog"] == {"starts": 0, "ends": 0, "reminders": 0, "followups": 0}
    assert status["oldest_due_at"] is None
    assert status["last_tick_at"] is not None
    assert status["workers_running"] >= 1

    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert 'bookd_scheduler_items_total{kind="reminder_sent"}' in metrics.text
    assert "bookd_scheduler_lateness_seconds_bucket" in metrics.text


def test_inactive_template_and_cancelled_booking_send_nothing(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    clock.set(t0)
    svc = factories.service(api)
    uid = svc["service_uid"]
    factories.template(api, uid, title="r1", minutes=30)
    factories.template(api, uid, title="r2", minutes=20)
    start = t0 + timedelta(hours=1)
    kept = factories.booking(api, service_uid=uid, start_time=factories.iso(start))["id"]
    cancelled = factories.booking(api, service_uid=uid, start_time=factories.iso(start))["id"]
    assert api.post(f"/v1/bookings/{cancelled}/cancel", {"reason": "ill"}).status_code == 200
    assert api.patch(f"/v1/services/{uid}/reminders/2", {"status": "inactive"}).status_code == 200

    drain(client, worker, start - timedelta(minutes=5))
    reminders = api.get(f"/v1/bookings/{kept}/reminders").json()["data"]
    assert [(r["title"], r["status"]) for r in reminders] == [("r1", "sent"), ("r2", "skipped")]
    assert "inactive" in reminders[1]["skip_reason"]
    assert [r["status"] for r in api.get(f"/v1/bookings/{cancelled}/reminders").json()["data"]] == [
        "cancelled",
        "cancelled",
    ]
    assert [e["type"] for e in factories.events(api, booking_id=cancelled)] == [
        "BOOKING_CREATED",
        "BOOKING_CANCELLED",
    ]
    logs = api.get(f"/v1/bookings/{kept}/logs").json()["data"]
    assert [log["action"] for log in logs] == ["create", "send_reminder", "skip_reminder"]


def test_texts_render_in_the_bot_users_timezone(
    make_workspace: Any, client: TestClient, worker: Worker, clock: TestClock, t0: datetime
) -> None:
    api: Api = make_workspace(timezone="Europe/Berlin")
    clock.set(t0)
    svc = factories.service(api, name="Haircut", default_duration=30)
    factories.template(
        api,
        svc["service_uid"],
        title="[NAME]: [TIME]",
        description="[SERVICE], [DURATION]",
        minutes=15,
    )
    api.put("/v1/bot-users/ny", {"name": "Grace", "timezone": "America/New_York"})
    start = t0 + timedelta(hours=1)
    ny = factories.booking(
        api, service_uid=svc["service_uid"], bot_user_ns="ny", start_time=factories.iso(start)
    )
    berlin = factories.booking(
        api, service_uid=svc["service_uid"], bot_user_ns="plain", start_time=factories.iso(start)
    )

    drain(client, worker, start - timedelta(minutes=15))
    from zoneinfo import ZoneInfo

    for booking, name, zone in (
        (ny, "Grace", "America/New_York"),
        (berlin, "plain", "Europe/Berlin"),
    ):
        [event] = factories.events(api, booking_id=booking["id"], type="REMINDER_SENDING")
        local = start.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        assert event["data"]["reminder"]["title"] == f"{name}: {local}"
        assert event["data"]["reminder"]["description"] == "Haircut, 30 minutes"
        assert event["data"]["bot_user"]["bot_user_ns"] == booking["bot_user_ns"]
    # The stored template text stays as written.
    stored = api.get(f"/v1/bookings/{ny['id']}/reminders").json()["data"][0]
    assert stored["title"] == "[NAME]: [TIME]"
