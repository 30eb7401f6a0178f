"""Which event goes to which trigger, signed how, and what a trigger's state does to delivery
(SPEC §5): every event type to the triggers that asked for it and no other, pauses, secret
rotation, 410 Gone, Retry-After, test events, the delivery log's filters, and pruning."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from standardwebhooks import WebhookVerificationError

from bookd.events.types import EventType
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import (
    Hooks,
    deliver_all,
    drain,
    parse,
    produce_every_event,
    relay,
    verify,
)


def pinned(clock: TestClock) -> datetime:
    """A whole minute a little ahead of now, set on the app's clock."""
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    clock.set(now)
    return now


def test_every_event_type_reaches_exactly_the_triggers_that_asked_for_it(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    for event_type in EventType:
        hooks.add(event_type.value, event_types=[event_type.value])
    hooks.add("all", event_types=["*"])
    # Created before the services exist: a filter names UIDs, not rows.
    scenario_uid = "second_opinion"
    hooks.add("second", event_types=["*"], service_uids=[scenario_uid])
    scenario = produce_every_event(api, client, worker, clock, other_uid=scenario_uid)
    deliver_all(client, worker, scenario.end)

    events = factories.events(api)
    assert {e["type"] for e in events} == set(EventType), "the scenario missed an event type"
    by_id = {e["id"]: e for e in events}

    def received(name: str) -> list[str]:
        ids = []
        for request in receiver.at(name):
            payload = verify(hooks.made[name]["secret"], request)
            assert request.headers["webhook-id"] == payload["id"]
            assert payload == by_id[payload["id"]], "the body is not the event as listed"
            ids.append(payload["id"])
        assert len(ids) == len(set(ids)), f"{name} got an event twice"
        return sorted(ids)

    for event_type in EventType:
        expected = sorted(e["id"] for e in events if e["type"] == event_type)
        assert received(event_type.value) == expected, event_type
        states = {d["status"] for d in hooks.deliveries(event_type.value)}
        assert states == {"succeeded"}, event_type
    assert received("all") == sorted(by_id)
    second = sorted(e["id"] for e in events if e["data"]["service"]["service_uid"] == scenario_uid)
    assert 0 < len(second) < len(events)
    assert received("second") == second
    assert {e["type"] for e in events if e["id"] in second} == {
        "BOOKING_CREATED",
        "BOOKING_CONFIRMED",
        "BOOKING_CANCELLED",
    }


def test_a_paused_trigger_gets_nothing_and_its_deliveries_wait(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    hooks.add("paused")
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    relay(client, worker, now)  # the delivery exists; nothing sent yet
    patched = api.patch(f"/v1/triggers/{hooks.id('paused')}", {"status": "paused"})
    assert patched.status_code == 200 and patched.json()["status"] == "paused"
    assert api.post(f"/v1/bookings/{booking['id']}/confirm").status_code == 200
    for later in (now, now + timedelta(minutes=5), now + timedelta(hours=2)):
        deliver_all(client, worker, later)
    assert receiver.at("paused") == []
    [waiting] = hooks.deliveries("paused")
    assert waiting["status"] == "pending" and waiting["attempts"] == 0
    assert waiting["event_type"] == "BOOKING_CREATED"

    assert api.patch(f"/v1/triggers/{hooks.id('paused')}", {"status": "active"}).status_code == 200
    deliver_all(client, worker, now + timedelta(hours=3))
    # The waiting delivery goes out; the event from the pause was never meant for this trigger
    # (events go to the triggers active when they are relayed).
    assert [json.loads(r.body)["type"] for r in receiver.at("paused")] == ["BOOKING_CREATED"]
    assert [d["status"] for d in hooks.deliveries("paused")] == ["succeeded"]


def test_secret_rotation_signs_with_both_secrets_for_24_hours(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    old = hooks.add("rotating")["secret"]
    hooks.test_event("rotating")
    deliver_all(client, worker, now)

    clock.set(now + timedelta(minutes=1))
    rotated = api.post(f"/v1/triggers/{hooks.id('rotating')}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    overlap_end = now + timedelta(minutes=1, hours=24)
    assert parse(rotated.json()["previous_secret_until"]) == overlap_end
    hooks.test_event("rotating")
    deliver_all(client, worker, now + timedelta(minutes=1))

    clock.set(overlap_end + timedelta(seconds=1))
    hooks.test_event("rotating")
    deliver_all(client, worker, overlap_end + timedelta(seconds=1))

    before, during, after = receiver.at("rotating")
    verify(old, before)
    with pytest.raises(WebhookVerificationError):
        verify(new, before)
    assert len(during.headers["webhook-signature"].split()) == 2
    assert verify(old, during) == verify(new, during)
    assert len(after.headers["webhook-signature"].split()) == 1
    verify(new, after)
    with pytest.raises(WebhookVerificationError):
        verify(old, after)


def test_410_gone_disables_the_trigger(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    hooks.add("gone")
    receiver.answer(410, name="gone")
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    deliver_all(client, worker, now)
    trigger = hooks.get("gone")
    assert trigger["status"] == "disabled"
    assert "410" in trigger["disabled_reason"]
    [delivery] = hooks.deliveries("gone")
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "failed",
        1,
        410,
    )

    assert api.post(f"/v1/bookings/{booking['id']}/confirm").status_code == 200
    deliver_all(client, worker, now + timedelta(days=3))
    assert len(receiver.at("gone")) == 1
    assert len(hooks.deliveries("gone")) == 1

    resumed = api.patch(f"/v1/triggers/{hooks.id('gone')}", {"status": "active"})
    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["disabled_reason"]) == ("active", None)
    assert api.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "x"}).status_code == 200
    deliver_all(client, worker, now + timedelta(days=3))
    assert [json.loads(r.body)["type"] for r in receiver.at("gone")] == [
        "BOOKING_CREATED",
        "BOOKING_CANCELLED",
    ]


def http_date(at: datetime) -> str:
    return email.utils.format_datetime(at, usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [
        (429, lambda now: "3600", timedelta(hours=1)),
        (503, lambda now: http_date(now + timedelta(hours=2)), timedelta(hours=2)),
        (429, lambda now: "999999", timedelta(hours=24)),  # capped at the longest backoff
    ],
    ids=["seconds", "http-date", "capped"],
)
def test_retry_after_is_honoured(
    api: Api,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    hooks: Hooks,
    receiver: Receiver,
    status: int,
    retry_after: object,
    wait: timedelta,
) -> None:
    now = pinned(clock)
    hooks.add("slow")
    assert callable(retry_after)
    receiver.answer(status, headers={"Retry-After": retry_after(now)}, name="slow")
    hooks.test_event("slow")
    deliver_all(client, worker, now)
    [delivery] = hooks.deliveries("slow")
    assert delivery["status"] == "pending" and delivery["last_status_code"] == status
    due = parse(delivery["next_attempt_at"])
    assert now + wait <= due < now + wait + timedelta(seconds=1)
    deliver_all(client, worker, now + wait - timedelta(seconds=1))
    assert len(receiver.at("slow")) == 1, "retried before Retry-After ran out"
    deliver_all(client, worker, now + wait + timedelta(seconds=1))
    assert [d["status"] for d in hooks.deliveries("slow")] == ["succeeded"]
    assert len(receiver.at("slow")) == 2


def test_retry_after_on_a_500_is_not_a_reason_to_wait(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    hooks.add("broken")
    receiver.answer(500, headers={"Retry-After": "3600"}, name="broken")
    hooks.test_event("broken")
    deliver_all(client, worker, now)
    [delivery] = hooks.deliveries("broken")
    # The first backoff step: 5 s, +-10 %.
    wait = parse(delivery["next_attempt_at"]) - now
    assert timedelta(seconds=4) <= wait <= timedelta(seconds=6)


def test_test_event_goes_to_its_trigger_only(
    api: Api,
    client: TestClient,
    worker: Worker,
    clock: TestClock,
    hooks: Hooks,
    receiver: Receiver,
    make_workspace: object,
) -> None:
    now = pinned(clock)
    target = hooks.add("target", event_types=["BOOKING_CREATED"])
    hooks.add("bystander", event_types=["*"])
    answer = hooks.test_event("target")
    assert (answer["event_type"], answer["trigger_id"], answer["status"]) == (
        "TRIGGER_TEST",
        target["id"],
        "pending",
    )
    deliver_all(client, worker, now)
    [request] = receiver.at("target")
    payload = verify(target["secret"], request)
    assert payload["type"] == "TRIGGER_TEST"
    assert request.headers["webhook-id"] == payload["id"] == answer["event_id"]
    assert payload["data"]["trigger"]["id"] == target["id"]
    assert receiver.at("bystander") == []
    assert hooks.deliveries("bystander") == []
    assert [d["status"] for d in hooks.deliveries("target")] == ["succeeded"]
    assert callable(make_workspace)
    stranger: Api = make_workspace()
    assert stranger.post(f"/v1/triggers/{target['id']}/test").status_code == 404


def test_delivery_log_filters_by_status_and_event_type(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    hooks.add("log")
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    deliver_all(client, worker, now)  # 200: succeeded
    receiver.answer(500, name="log")
    assert api.post(f"/v1/bookings/{booking['id']}/confirm").status_code == 200
    deliver_all(client, worker, now)  # 500: pending, to be retried
    receiver.answer(410, name="log")
    assert api.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "x"}).status_code == 200
    deliver_all(client, worker, now)  # 410: failed

    def types(**params: str) -> list[str]:
        return [d["event_type"] for d in hooks.deliveries("log", **params)]

    assert types() == ["BOOKING_CREATED", "BOOKING_CONFIRMED", "BOOKING_CANCELLED"]
    assert types(status="succeeded") == ["BOOKING_CREATED"]
    assert types(status="pending") == ["BOOKING_CONFIRMED"]
    assert types(status="failed") == ["BOOKING_CANCELLED"]
    assert types(event_type="BOOKING_CONFIRMED") == ["BOOKING_CONFIRMED"]
    assert types(status="pending", event_type="BOOKING_CONFIRMED") == ["BOOKING_CONFIRMED"]
    assert types(status="succeeded", event_type="BOOKING_CONFIRMED") == []
    [pending] = hooks.deliveries("log", status="pending")
    assert [a["status_code"] for a in pending["attempt_log"]] == [500]
    bad = api.get(f"/v1/triggers/{hooks.id('log')}/deliveries", params={"status": "lost"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    bad = api.get(f"/v1/triggers/{hooks.id('log')}/deliveries", params={"event_type": "NOPE"})
    assert bad.status_code == 422


def test_prune_removes_old_finished_events_with_their_deliveries(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    now = pinned(clock)
    hooks.add("ok", event_types=["BOOKING_CREATED"])
    hooks.add("flaky", event_types=["BOOKING_CONFIRMED"])
    hooks.add("gone", event_types=["BOOKING_CANCELLED"])
    receiver.answer(500, times=5, name="flaky")
    receiver.answer(410, name="gone")
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    assert api.post(f"/v1/bookings/{booking['id']}/confirm").status_code == 200
    assert api.post(f"/v1/bookings/{booking['id']}/cancel", {"reason": "x"}).status_code == 200
    assert api.post(f"/v1/bookings/{booking['id']}/rating", {"rating": 5}).status_code == 200
    deliver_all(client, worker, now)
    # A recent event, a day later: inside the retention when the pruning runs.
    clock.set(now + timedelta(days=1))
    recent = hooks.test_event("ok")
    deliver_all(client, worker, now + timedelta(days=1))
    assert {d["event_type"]: d["status"] for d in hooks.deliveries("flaky")} == {
        "BOOKING_CONFIRMED": "pending"
    }
    assert len(factories.events(api)) == 5

    assert client.portal is not None
    # Just inside the retention: nothing goes.
    client.portal.call(worker.prune, now + timedelta(days=30) - timedelta(seconds=1))
    assert len(factories.events(api)) == 5

    removed = client.portal.call(worker.prune, now + timedelta(days=30, hours=1))
    assert removed >= 3
    left = {e["type"]: e["id"] for e in factories.events(api)}
    # Succeeded, failed and never-delivered old events went; the pending one and the recent one
    # stay.
    assert set(left) == {"BOOKING_CONFIRMED", "TRIGGER_TEST"}
    assert left["TRIGGER_TEST"] == recent["event_id"]
    assert [d["event_type"] for d in hooks.deliveries("ok")] == ["TRIGGER_TEST"]
    assert [d["event_type"] for d in hooks.deliveries("flaky")] == ["BOOKING_CONFIRMED"]
    assert hooks.deliveries("gone") == []


def test_a_scheduler_batch_makes_its_deliveries_as_it_writes_its_events(
    api: Api, client: TestClient, worker: Worker, clock: TestClock, hooks: Hooks
) -> None:
    """The events of a batch are stored relayed, with their deliveries for the triggers that
    match then (a service filter included), before any relay runs."""
    now = pinned(clock)
    wanted = factories.service(api)
    other = factories.service(api)
    for svc in (wanted, other):
        factories.template(api, svc["service_uid"], title="Soon", minutes=10)
    hooks.add("wanted", event_types=["REMINDER_SENDING"], service_uids=[wanted["service_uid"]])
    hooks.add("every", event_types=["*"])
    start = factories.iso(now + timedelta(minutes=20))
    ids = {
        svc["service_uid"]: factories.booking(
            api, service_uid=svc["service_uid"], start_time=start
        )["id"]
        for svc in (wanted, other)
    }
    relay(client, worker, now)  # the creations' events: not the subject here
    before = {name: len(hooks.deliveries(name)) for name in ("wanted", "every")}

    drain(client, worker, now + timedelta(minutes=10))

    async def stored(session: Any) -> list[tuple[int, bool]]:
        rows = await session.execute(
            text(
                "SELECT booking_id, relayed FROM events WHERE type = 'REMINDER_SENDING'"
                " AND booking_id IN (:a, :b)"
            ),
            {"a": ids[wanted["service_uid"]], "b": ids[other["service_uid"]]},
        )
        return sorted((row[0], bool(row[1])) for row in rows)

    assert api.run(stored) == sorted((bid, True) for bid in ids.values())
    made = {name: hooks.deliveries(name)[count:] for name, count in before.items()}
    assert len(made["every"]) == 2
    assert [d["event_type"] for d in made["wanted"]] == ["REMINDER_SENDING"]
