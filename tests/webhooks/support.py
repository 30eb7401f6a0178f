"""Helpers for the webhook tests: triggers on a real receiver, deliveries at a pinned time,
signatures verified as a receiver would at the moment of the attempt, and one run of the system
that produces every event type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from bookd.webhooks.counts import DAY_COLUMNS
from bookd.webhooks.models import DELIVERY_DAYS
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Received, Receiver


async def delivery_counters(session: AsyncSession, workspace_id: int) -> dict[str, int]:
    """The workspace's delivery counters, summed over its days and shards, zeros left out."""
    t = DELIVERY_DAYS.c
    row = (
        await session.execute(
            select(*(func.coalesce(func.sum(t[c]), 0) for c in DAY_COLUMNS)).where(
                t.workspace_id == workspace_id
            )
        )
    ).one()
    return {c: int(v) for c, v in zip(DAY_COLUMNS, row, strict=True) if v}


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def deliver_all(client: TestClient, worker: Worker, now: datetime) -> None:
    """Relay, then send everything due at `now` until nothing is left to claim. The database is
    shared by the session, so other tests' leftovers may be sent too: assert on a trigger's own
    deliveries and requests, never on this count."""
    assert client.portal is not None
    for _ in range(100):
        if not client.portal.call(worker.deliver, now):
            return
    raise AssertionError("deliveries kept coming")


def relay(client: TestClient, worker: Worker, now: datetime) -> None:
    """Turn new events into deliveries without sending any."""
    assert client.portal is not None
    client.portal.call(worker.relay, now)


def drain(client: TestClient, worker: Worker, now: datetime) -> None:
    assert client.portal is not None
    client.portal.call(worker.drain, now)


def verify(secret: str, request: Received) -> Any:
    """`Webhook(secret).verify` as the receiver would have run it when the attempt arrived (the
    attempts are signed at the pinned clock, and the library allows five minutes of skew)."""
    signed_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
    with time_machine.travel(signed_at, tick=False):
        return Webhook(secret).verify(request.body, request.headers)


@dataclass
class Hooks:
    """The triggers a test makes, each on its own path of the receiver; removed afterwards."""

    api: Api
    receiver: Receiver
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "url": self.receiver.url_for(name), **fields}
        response = self.api.post("/v1/triggers", body)
        assert response.status_code == 201, response.text
        self.made[name] = response.json()
        return self.made[name]

    def id(self, name: str) -> int:
        return int(self.made[name]["id"])

    def get(self, name: str) -> dict[str, Any]:
        response = self.api.get(f"/v1/triggers/{self.id(name)}")
        assert response.status_code == 200, response.text
        return response.json()

    def deliveries(self, name: str, **params: Any) -> list[dict[str, Any]]:
        response = self.api.get(
            f"/v1/triggers/{self.id(name)}/deliveries", params={"limit": 200, **params}
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def test_event(self, name: str) -> dict[str, Any]:
        response = self.api.post(f"/v1/triggers/{self.id(name)}/test")
        assert response.status_code == 202, response.text
        return response.json()

    def remove_all(self) -> None:
        # Keeps pending deliveries of finished tests from being retried by later ones.
        for trigger in self.made.values():
            self.api.delete(f"/v1/triggers/{trigger['id']}")


@dataclass(frozen=True)
class Scenario:
    main: str
    """The service most bookings are for."""
    other: str
    """A second service, with a few bookings of its own (for service filters)."""
    end: datetime
    """The pinned time after the last event."""


def produce_every_event(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, *, other_uid: str | None = None
) -> Scenario:
    """Every one of the 14 event types, through the API and the scheduler, with the clock pinned a
    few minutes ahead (bookings of other tests lie weeks ahead, so the scheduler leaves them be).
    `other_uid` names the second service."""
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    clock.set(t0)
    main = factories.service(
        api, service_uid="consultation", name="Consultation", default_duration=30
    )["service_uid"]
    factories.template(
        api, main, title="See you at [TIME]", description="[SERVICE] on [DATE]", minutes=10
    )
    factories.template(api, main, "followups", title="Thank you, [NAME]", minutes=0)
    other = factories.service(
        api, service_uid=other_uid or "second_opinion", name="Second opinion", default_duration=15
    )["service_uid"]
    retired = factories.service(api, service_uid="retired", name="Retired", default_duration=15)[
        "service_uid"
    ]
    profile = {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"}
    assert api.put("/v1/bot-users/ada", profile).status_code == 200

    def ok(response: Any, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if status != 204 else {}

    # By the clock: confirmed, reminded, started, ended and completed, followed up.
    first = factories.booking(
        api,
        service_uid=main,
        bot_user_ns="ada",
        start_time=factories.iso(t0 + timedelta(minutes=20)),
        location="Room 1",
        source="telegram",
        metadata='{"order": 1042}',
    )["id"]
    ok(api.post(f"/v1/bookings/{first}/confirm"))
    # Rescheduled, then cancelled.
    moved = factories.booking(api, service_uid=main, bot_user_ns="ada")["id"]
    ok(
        api.post(
            f"/v1/bookings/{moved}/reschedule",
            {"start_time": factories.future(days=31), "reason": "clash with another meeting"},
        )
    )
    ok(api.post(f"/v1/bookings/{moved}/cancel", {"reason": "feeling unwell"}))
    # Completed by hand.
    done = factories.booking(api, service_uid=main, bot_user_ns="ada")["id"]
    ok(api.post(f"/v1/bookings/{done}/complete"))
    # A no-show, rated, annotated, deleted.
    missed = factories.booking(api, service_uid=main, bot_user_ns="grace")["id"]
    ok(api.post(f"/v1/bookings/{missed}/no-show"))
    ok(api.post(f"/v1/bookings/{missed}/rating", {"rating": 1}))
    ok(api.patch(f"/v1/bookings/{missed}", {"notes": "did not answer the phone"}))
    ok(api.delete(f"/v1/bookings/{missed}"), 204)
    # The second service: created, confirmed, cancelled.
    second = factories.booking(api, service_uid=other, bot_user_ns="grace")["id"]
    ok(api.post(f"/v1/bookings/{second}/confirm"))
    ok(api.post(f"/v1/bookings/{second}/cancel", {"reason": "found another date"}))
    # Falls due while its service is inactive.
    factories.booking(
        api,
        service_uid=retired,
        bot_user_ns="grace",
        start_time=factories.iso(t0 + timedelta(minutes=15)),
    )
    ok(api.patch(f"/v1/services/{retired}", {"status": "inactive"}))

    for minutes in (10, 20, 50):
        clock.set(t0 + timedelta(minutes=minutes))
        drain(client, worker, t0 + timedelta(minutes=minutes))
    return Scenario(main=main, other=other, end=t0 + timedelta(minutes=50))
