"""Fairness and the endpoint's own record: claims take every trigger in turn, an endpoint that keeps
failing is backed off as a whole (and disabled after five days), a receiver can stop one message's
retries, and a recovery sends what failed during an outage once more."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events import outbox
from bookd.events.models import Event
from bookd.events.schemas import EventOut, envelope
from bookd.events.types import EventType
from bookd.webhooks.delivery import rounds
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.console.support import signed_in
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import Hooks, deliver_all, parse, relay


@pytest.fixture
def worker(client: TestClient, clock: TestClock) -> Worker:
    """A worker whose lease covers two rounds of a lane's attempts (20 s, twice the timeout):
    each claim takes twice a trigger's concurrency, which the counts below are written for."""
    app: Any = client.app
    settings = app.state.settings.replace(webhook_lease_seconds=20)
    worker = Worker(app.state.db, settings, clock=clock)
    assert rounds(worker.dispatcher.lease, worker.dispatcher.timeout) == 2
    return worker


def send(client: TestClient, worker: Worker, now: datetime, hooks: Hooks, name: str) -> list[str]:
    """One run of the worker at `now`: the states that the trigger's deliveries attempted in it
    ended in. (The worker's own answer covers every workspace of the shared database.)"""
    before = {d["id"]: d["attempts"] for d in hooks.deliveries(name)}
    assert client.portal is not None
    client.portal.call(worker.deliver, now)
    return sorted(
        d["status"] for d in hooks.deliveries(name) if d["attempts"] > before.get(d["id"], 0)
    )


def pinned(clock: TestClock) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    clock.set(now)
    return now


def make_events(api: Api, count: int, now: datetime) -> list[str]:
    """`count` events of the workspace straight into the outbox (the API would take long to make
    hundreds); their ids, oldest first."""

    async def work(session: AsyncSession) -> list[str]:
        events = [
            outbox.record(
                session,
                workspace_id=api.workspace_id,
                type=EventType.BOOKING_CREATED,
                occurred_at=now,
                data={"booking": {"id": n}, "service": {"service_uid": "load"}},
            )
            for n in range(count)
        ]
        await session.flush()
        return [event.id for event in events]

    return api.run(work)


def ids(receiver: Receiver, name: str) -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.at(name)]


def test_claims_take_every_trigger_in_turn(
    api: Api,
    make_workspace: Any,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    receiver: Receiver,
) -> None:
    # One workspace has 300 deliveries queued, older than another workspace's single event: the
    # first claim takes that event along with the first share of the backlog.
    other = make_workspace()
    busy, quiet = Hooks(api, receiver), Hooks(other, receiver)
    try:
        busy.add("busy")
        quiet.add("quiet")
        now = pinned(clock)
        make_events(api, 300, now - timedelta(minutes=1))
        relay(client, worker, now)
        [single] = make_events(other, 1, now)
        relay(client, worker, now)

        assert client.portal is not None
        client.portal.call(worker.deliver, now)
        assert ids(receiver, "quiet") == [single]
        assert [d["status"] for d in quiet.deliveries("quiet")] == ["succeeded"]
        # Each trigger's share: twice its concurrency (8), oldest first.
        assert len(receiver.at("busy")) == 16
        assert len(busy.deliveries("busy", status="succeeded")) == 16
        deliver_all(client, worker, now)
        assert len(set(ids(receiver, "busy"))) == 300
        assert busy.deliveries("busy", status="pending") == []
    finally:
        busy.remove_all()
        quiet.remove_all()


def test_a_failing_endpoint_is_backed_off_as_a_whole_and_probed(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    hook = hooks.add("flaky", concurrency=1)
    assert hook["concurrency"] == 1 and hook["failures"] == 0 and hook["retry_at"] is None
    receiver.answer(500, times=1000, name="flaky")
    now = pinned(clock)
    make_events(api, 20, now)
    relay(client, worker, now)

    # Two deliveries a round (twice the concurrency of 1), each failing: four failures in a row
    # leave the circuit closed; the third round passes five (docs/webhooks.md), and it opens.
    for _ in range(2):
        assert send(client, worker, now, hooks, "flaky") == ["pending", "pending"]
    trigger = hooks.get("flaky")
    assert trigger["failures"] == 4 and trigger["retry_at"] is None
    assert send(client, worker, now, hooks, "flaky") == ["pending", "pending"]
    trigger = hooks.get("flaky")
    assert trigger["failures"] == 6
    assert parse(trigger["failing_since"]) == now
    assert parse(trigger["retry_at"]) == now + timedelta(seconds=5)
    assert trigger["status"] == "active"

    # The console says so on the trigger's page.
    page = signed_in(api).get(f"/triggers/{hooks.id('flaky')}").text
    assert re.search(r'id="circuit">Failing since [^<]*?: 6 failed attempts in a row\.', page)
    assert "Its deliveries wait until" in page

    # Fourteen deliveries are due and never tried yet; none is tried while the circuit is open.
    assert send(client, worker, now + timedelta(seconds=4), hooks, "flaky") == []
    assert len(receiver.at("flaky")) == 6
    untried = [d for d in hooks.deliveries("flaky") if d["attempts"] == 0]
    assert len(untried) == 14 and {d["status"] for d in untried} == {"pending"}

    # Then one attempt probes the endpoint; it fails, and the wait grows (as long as it has been
    # failing).
    probe_at = now + timedelta(seconds=6)
    assert send(client, worker, probe_at, hooks, "flaky") == ["pending"]
    assert send(client, worker, probe_at, hooks, "flaky") == []
    trigger = hooks.get("flaky")
    assert trigger["failures"] == 7
    assert parse(trigger["retry_at"]) == probe_at + timedelta(seconds=6)

    # The endpoint is back: the probe succeeds, the circuit closes, the backlog flows again.
    with receiver.lock:
        receiver.path_answers[receiver.path("flaky")].clear()
    back_at = now + timedelta(seconds=13)
    assert send(client, worker, back_at, hooks, "flaky") == ["succeeded"]
    trigger = hooks.get("flaky")
    assert trigger["failures"] == 0 and trigger["failing_since"] is None
    assert trigger["retry_at"] is None
    assert send(client, worker, back_at, hooks, "flaky") == ["succeeded", "succeeded"]
    deliver_all(client, worker, back_at + timedelta(hours=1))
    assert [d["status"] for d in hooks.deliveries("flaky")] == ["succeeded"] * 20
    assert len(receiver.at("flaky")) == 27


def test_an_endpoint_failing_for_five_days_is_disabled_and_recovered(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    hooks.add("down", concurrency=1)
    receiver.answer(503, times=1000, name="down")
    now = pinned(clock)
    made = make_events(api, 8, now)
    relay(client, worker, now)
    for _ in range(3):
        assert send(client, worker, now, hooks, "down") == ["pending", "pending"]
    assert hooks.get("down")["failures"] == 6

    # Still failing five days on: the next probe disables the trigger, with the reason.
    later = now + timedelta(days=5, seconds=1)
    assert send(client, worker, later, hooks, "down") == ["pending"]
    trigger = hooks.get("down")
    assert trigger["status"] == "disabled"
    assert trigger["disabled_reason"].startswith("failing since ")
    assert trigger["disabled_reason"].endswith("last answer: HTTP 503")
    page = signed_in(api).get(f"/triggers/{hooks.id('down')}").text
    assert "Disabled: failing since " in page
    # Nothing is lost: the deliveries wait, pending, and none goes out while it is disabled.
    assert send(client, worker, later + timedelta(days=1), hooks, "down") == []
    assert {d["status"] for d in hooks.deliveries("down")} == {"pending"}
    assert len(receiver.at("down")) == 7

    # The receiver answers again, and a recovery sends the failed ones once more, oldest first
    # (here none failed for good yet: the recovery switches the trigger on, and the pending
    # deliveries flow).
    with receiver.lock:
        receiver.path_answers[receiver.path("down")].clear()
    recovered = api.post(
        f"/v1/triggers/{hooks.id('down')}/recover",
        {"since": (now - timedelta(hours=1)).isoformat()},
    )
    assert recovered.status_code == 200, recovered.text
    assert recovered.json() == {"requeued": 0}
    trigger = hooks.get("down")
    assert trigger["status"] == "active" and trigger["disabled_reason"] is None
    assert trigger["failures"] == 0
    deliver_all(client, worker, later + timedelta(days=1))
    assert set(ids(receiver, "down")) == set(made)
    assert {d["status"] for d in hooks.deliveries("down")} == {"succeeded"}


def test_abort_message_stops_one_message_and_recover_sends_it_once_more(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    hooks.add("picky", concurrency=1)
    abort = {"webhook-delivery": "abort-message"}
    receiver.answer(422, times=3, headers=abort, name="picky")
    now = pinned(clock)
    made = make_events(api, 3, now)
    relay(client, worker, now)
    assert send(client, worker, now, hooks, "picky") == ["failed", "failed"]
    assert send(client, worker, now, hooks, "picky") == ["failed"]
    deliveries = hooks.deliveries("picky")
    assert [d["status"] for d in deliveries] == ["failed"] * 3
    assert all(d["attempts"] == 1 for d in deliveries)
    assert "abort-message" in deliveries[0]["last_error"]
    # A refusal of one message says nothing of the endpoint: no failures counted against it.
    assert hooks.get("picky")["failures"] == 0
    assert ids(receiver, "picky") == made

    # Sent again once, oldest first; one that fails now fails for good at once.
    receiver.answer(500, times=1, name="picky")
    later = now + timedelta(minutes=10)
    recovered = api.post(f"/v1/triggers/{hooks.id('picky')}/recover", {"since": now.isoformat()})
    assert recovered.status_code == 200 and recovered.json() == {"requeued": 3}
    deliver_all(client, worker, later)
    assert ids(receiver, "picky") == made + made
    by_event = {d["event_id"]: d for d in hooks.deliveries("picky")}
    assert by_event[made[0]]["status"] == "failed" and by_event[made[0]]["attempts"] == 2
    assert [by_event[m]["status"] for m in made[1:]] == ["succeeded", "succeeded"]
    # A second recovery requeues only what failed since its own time.
    again = api.post(
        f"/v1/triggers/{hooks.id('picky')}/recover",
        {"since": (later + timedelta(minutes=1)).isoformat()},
    )
    assert again.json() == {"requeued": 0}


def test_recover_checks_its_input(api: Api, hooks: Hooks) -> None:
    hooks.add("checked")
    path = f"/v1/triggers/{hooks.id('checked')}/recover"
    missing = api.post(path, {})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"].endswith("since")
    naive = api.post(path, {"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert (
        api.post("/v1/triggers/999999/recover", {"since": "2026-01-01T00:00:00Z"}).status_code
        == 404
    )


def test_the_webhook_body_is_the_event_as_the_api_shows_it(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    # The body is written around the stored payload text; it must say what the API's model does.
    hooks.add("body")
    now = pinned(clock)
    [made] = make_events(api, 1, now)
    assert send(client, worker, now, hooks, "body") == ["succeeded"]
    [request] = receiver.at("body")

    async def stored(session: AsyncSession) -> Event:
        event = await session.scalar(select(Event).where(Event.id == made))
        assert event is not None
        return event

    event = api.run(stored)
    expected = EventOut.of(event).model_dump_json()
    assert json.loads(request.body) == json.loads(expected)
    [shown] = factories.events(api)  # GET /v1/events
    assert json.loads(request.body) == shown
    assert request.body == envelope(
        id=event.id,
        type=event.type,
        occurred_at=event.occurred_at,
        workspace_id=event.workspace_id,
        data=event.data,
    )
