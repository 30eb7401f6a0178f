"""Events reach triggers: signed, retried with growing waits, every attempt on record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from bookd.worker import Worker
from tests import factories
from tests.conftest import Api
from tests.webhooks.receiver import Receiver, start_receiver


def deliver(client: TestClient, worker: Worker, now: datetime) -> list[str]:
    assert client.portal is not None
    return client.portal.call(worker.deliver, now)


def trigger(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/triggers", {"name": "hook", "url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_signed_delivery_of_an_event(
    api: Api, client: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = trigger(api, receiver.url, event_types=["BOOKING_CREATED"])
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    states = deliver(client, worker, datetime.now(UTC))
    assert states == ["succeeded"]
    [request] = receiver.requests
    payload = Webhook(hook["secret"]).verify(request.body, request.headers)
    event = factories.events(api, booking_id=booking["id"])[0]
    assert request.headers["webhook-id"] == event["id"] == payload["id"]
    assert payload["type"] == "BOOKING_CREATED"
    assert payload["data"]["booking"]["id"] == booking["id"]
    deliveries = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"]
    assert [d["status"] for d in deliveries] == ["succeeded"]
    assert deliveries[0]["attempt_log"][0]["status_code"] == 200


def test_503_three_times_then_200(
    api: Api, client: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = trigger(api, receiver.url)
    receiver.answer(503, times=3)
    svc = factories.service(api)
    factories.booking(api, service_uid=svc["service_uid"])
    now = datetime.now(UTC)
    assert deliver(client, worker, now) == ["pending"]
    waits = []
    for _ in range(3):
        delivery = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"][0]
        due = datetime.fromisoformat(delivery["next_attempt_at"].replace("Z", "+00:00"))
        waits.append(due - now)
        assert deliver(client, worker, due - timedelta(seconds=1)) == []  # not yet
        # The API shows whole seconds; the stored time may be a fraction later.
        now = due + timedelta(seconds=1)
        deliver(client, worker, now)
    delivery = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"][0]
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 503, 503, 200]
    assert waits[0] < waits[1] < waits[2]
    assert len(receiver.requests) == 4
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_receiver_down_fails_then_manual_retry(
    api: Api, client: TestClient, worker: Worker
) -> None:
    down = start_receiver()
    url = down.url
    down.close()  # connection refused from now on
    hook = trigger(api, url)
    svc = factories.service(api)
    factories.booking(api, service_uid=svc["service_uid"])
    now = datetime.now(UTC)
    states = deliver(client, worker, now)
    attempts = 1
    while states != ["failed"]:
        delivery = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"][0]
        now = datetime.fromisoformat(delivery["next_attempt_at"].replace("Z", "+00:00"))
        # From the fifth failure in a row the endpoint's circuit is open: its retries wait for
        # the circuit's probe when that comes later than their own next attempt.
        retry_at = api.get(f"/v1/triggers/{hook['id']}").json()["retry_at"]
        if retry_at is not None:
            now = max(now, datetime.fromisoformat(retry_at.replace("Z", "+00:00")))
        states = deliver(client, worker, now + timedelta(seconds=1))
        assert states, "the due attempt was not made"
        attempts += 1
    delivery = api.get(f"/v1/triggers/{hook['id']}/deliveries").json()["data"][0]
    assert attempts == 10 == len(delivery["attempt_log"])
    first = datetime.fromisoformat(
        delivery["attempt_log"][0]["attempted_at"].replace("Z", "+00:00")
    )
    last = datetime.fromisoformat(
        delivery["attempt_log"][-1]["attempted_at"].replace("Z", "+00:00")
    )
    assert last - first >= timedelta(hours=24)

    back = start_receiver()
    try:
        # The receiver is back at the same address? Ports differ; point the trigger at it.
        assert api.patch(f"/v1/triggers/{hook['id']}", {"url": back.url}).status_code == 200
        retried = api.post(f"/v1/deliveries/{delivery['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        assert deliver(client, worker, now + timedelta(minutes=1)) == ["succeeded"]
        assert len(back.requests) == 1
        body = json.loads(back.requests[0].body)
        assert body["type"] == "BOOKING_CREATED"
    finally:
        back.close()
