"""Events reach triggers: signed, retried with growing waits, every attempt on record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from bookd.worker import Worker
from tests import factories
from tests.conftest import Api
from tests.webhooks.receiver import Receiver, start_receiver
from tests.webhooks.support import Hooks, parse


def send(client: TestClient, worker: Worker, now: datetime, hooks: Hooks, name: str) -> list[str]:
    """One run of the worker at `now`: the states that the trigger's deliveries attempted in it
    ended in. (The worker's own answer covers every workspace of the shared database.)"""
    before = {d["id"]: d["attempts"] for d in hooks.deliveries(name)}
    assert client.portal is not None
    client.portal.call(worker.deliver, now)
    return sorted(
        d["status"] for d in hooks.deliveries(name) if d["attempts"] > before.get(d["id"], 0)
    )


def test_signed_delivery_of_an_event(
    api: Api, client: TestClient, worker: Worker, hooks: Hooks, receiver: Receiver
) -> None:
    hook = hooks.add("hook", event_types=["BOOKING_CREATED"])
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    assert send(client, worker, datetime.now(UTC), hooks, "hook") == ["succeeded"]
    [request] = receiver.at("hook")
    payload = Webhook(hook["secret"]).verify(request.body, request.headers)
    event = factories.events(api, booking_id=booking["id"])[0]
    assert request.headers["webhook-id"] == event["id"] == payload["id"]
    assert payload["type"] == "BOOKING_CREATED"
    assert payload["data"]["booking"]["id"] == booking["id"]
    [delivery] = hooks.deliveries("hook")
    assert delivery["status"] == "succeeded"
    assert delivery["event_id"] == event["id"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [200]


def test_503_three_times_then_200(
    api: Api, client: TestClient, worker: Worker, hooks: Hooks, receiver: Receiver
) -> None:
    hooks.add("hook")
    receiver.answer(503, times=3, name="hook")
    svc = factories.service(api)
    factories.booking(api, service_uid=svc["service_uid"])
    now = datetime.now(UTC)
    assert send(client, worker, now, hooks, "hook") == ["pending"]
    waits = []
    for states in (["pending"], ["pending"], ["succeeded"]):
        [delivery] = hooks.deliveries("hook")
        due = parse(delivery["next_attempt_at"])
        waits.append(due - now)
        assert send(client, worker, due - timedelta(seconds=1), hooks, "hook") == []  # not yet
        # The API shows whole seconds; the stored time may be a fraction later.
        now = due + timedelta(seconds=1)
        assert send(client, worker, now, hooks, "hook") == states
    [delivery] = hooks.deliveries("hook")
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 503, 503, 200]
    assert waits[0] < waits[1] < waits[2]
    assert len(receiver.at("hook")) == 4
    assert len({r.headers["webhook-id"] for r in receiver.at("hook")}) == 1


def test_receiver_down_fails_then_manual_retry(
    api: Api, client: TestClient, worker: Worker, hooks: Hooks
) -> None:
    down = start_receiver()
    url = down.url
    down.close()  # connection refused from now on
    hooks.add("down", url=url)
    svc = factories.service(api)
    factories.booking(api, service_uid=svc["service_uid"])
    now = datetime.now(UTC)
    states = send(client, worker, now, hooks, "down")
    attempts = 1
    while states == ["pending"] and attempts < 10:
        [delivery] = hooks.deliveries("down")
        now = parse(delivery["next_attempt_at"])
        # From the fifth failure in a row the endpoint's circuit is open: its retries wait for
        # the circuit's probe when that comes later than their own next attempt.
        retry_at = hooks.get("down")["retry_at"]
        if retry_at is not None:
            now = max(now, parse(retry_at))
        states = send(client, worker, now + timedelta(seconds=1), hooks, "down")
        assert states, "the due attempt was not made"
        attempts += 1
    assert states == ["failed"]
    [delivery] = hooks.deliveries("down")
    assert attempts == 10 == len(delivery["attempt_log"])
    first = parse(delivery["attempt_log"][0]["attempted_at"])
    last = parse(delivery["attempt_log"][-1]["attempted_at"])
    assert last - first >= timedelta(hours=24)

    back = start_receiver()
    try:
        # The receiver is back at the same address? Ports differ; point the trigger at it.
        assert api.patch(f"/v1/triggers/{hooks.id('down')}", {"url": back.url}).status_code == 200
        retried = api.post(f"/v1/deliveries/{delivery['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        assert send(client, worker, now + timedelta(minutes=1), hooks, "down") == ["succeeded"]
        assert len(back.requests) == 1
        body = json.loads(back.requests[0].body)
        assert body["type"] == "BOOKING_CREATED"
    finally:
        back.close()
