"""The delivery pipeline against endpoints that misbehave: one that drips its answer is cut off at
the attempt's deadline, one that holds fifty requests for a minute does not hold up another
workspace's fast one, one that answers with 100 MB costs the worker no memory, and an attempt
whose trigger is deleted while it is in flight does not keep the others from being recorded."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events import outbox
from bookd.events.types import EventType
from bookd.worker import Worker
from tests import factories
from tests.conftest import Api, TestClock
from tests.webhooks.receiver import Drip, Flood, Hold, Receiver
from tests.webhooks.support import Hooks, parse

T = TypeVar("T")
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def worker_with(client: TestClient, clock: TestClock, **settings: Any) -> Worker:
    """A worker on the app's database and clock with some of its settings changed."""
    app: Any = client.app
    return Worker(app.state.db, app.state.settings.replace(**settings), clock=clock)


def deliver_once(client: TestClient, worker: Worker, now: datetime) -> None:
    """Relay and send what is due at `now` once, then close the worker's HTTP client."""
    assert client.portal is not None
    try:
        client.portal.call(worker.deliver, now)
    finally:
        client.portal.call(worker.dispatcher.aclose)


@contextmanager
def pipeline(client: TestClient, worker: Worker) -> Iterator[None]:
    """`worker.run_deliveries` on the app's loop while the block runs; stopped at its end (the
    attempts in flight end and are recorded first)."""
    portal = client.portal
    assert portal is not None
    stop = portal.call(asyncio.Event)
    running = portal.start_task_soon(worker.run_deliveries, stop)
    try:
        yield
    finally:
        portal.call(stop.set)
        try:
            running.result(timeout=30)
        finally:
            portal.call(worker.dispatcher.aclose)


def wait_for(condition: Callable[[], T | None], seconds: float, what: str) -> T:
    """Poll `condition` until it gives something true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.01)
    return value


def resident() -> int:
    """This process's resident memory, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakMemory(threading.Thread):
    """Samples `resident()` every few milliseconds until stopped: the highest it saw."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = resident()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.005):
            self.peak = max(self.peak, resident())

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return max(self.peak, resident())


def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_deadline_and_is_retried(
    client: TestClient, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    drip = Drip(every=0.3, count=200)  # a minute of body after the headers
    receiver.serve("drip", drip)
    hooks.add("drip")
    hooks.test_event("drip")
    now = datetime.now(UTC)
    deliver_once(client, worker_with(client, clock, webhook_timeout_seconds=1.0), now)

    [request] = receiver.at("drip")
    # The drip goes on for a minute: a sender that keeps listening is seen within 10 s.
    assert request.done.wait(10), "the receiver still drips: the sender never hung up"
    assert request.sent >= 1, "the body had not begun: only the headers were waited for"
    [delivery] = hooks.deliveries("drip")
    [attempt] = delivery["attempt_log"]
    assert 1000 <= attempt["latency_ms"] < 10_000, attempt
    assert attempt["status_code"] is None and not attempt["succeeded"]
    assert attempt["response"].startswith("timed out"), attempt
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert parse(delivery["next_attempt_at"]) > now


def test_a_fast_endpoint_is_not_held_up_by_fifty_slow_requests_of_another(
    api: Api,
    make_workspace: Callable[..., Api],
    client: TestClient,
    clock: TestClock,
    hooks: Hooks,
    receiver: Receiver,
) -> None:
    # The slow path holds its answers for a minute (released at the end): a fast delivery queued
    # behind them would arrive tens of seconds late, one beside them within 10 s. How soon it
    # arrives beside slow receivers is workload 6 (c) of `make bench`.
    worker = worker_with(client, clock, webhook_timeout_seconds=90.0, webhook_lease_seconds=180)
    receiver.serve("slow", Hold(seconds=60))
    hooks.add("slow", concurrency=50)
    other = make_workspace()
    fast = Hooks(other, receiver)
    fast.add("fast")
    service = factories.service(other)["service_uid"]

    async def fifty_events(session: AsyncSession) -> None:
        for n in range(50):
            outbox.record(
                session,
                workspace_id=api.workspace_id,
                type=EventType.BOOKING_CREATED,
                occurred_at=datetime.now(UTC),
                data={"booking": {"id": n}, "service": {"service_uid": "slow"}},
            )

    def arrived(booking_id: int) -> float | None:
        for request in receiver.at("fast"):
            if json.loads(request.body)["data"].get("booking", {}).get("id") == booking_id:
                return request.at
        return None

    latencies = []
    try:
        with pipeline(client, worker):
            api.run(fifty_events)
            wait_for(
                lambda: receiver.open_at("slow") == 50, 30, "50 requests held at the slow path"
            )
            for _ in range(5):
                created = time.monotonic()  # before the request: its commit comes later
                booking_id = factories.booking(other, service_uid=service)["id"]
                at = wait_for(partial(arrived, booking_id), 10, f"booking {booking_id} at fast")
                latencies.append(round(at - created, 3))
            assert receiver.open_at("slow") == 50, "the slow requests were not in flight all along"
            receiver.release()  # answered now: the pipeline stops without waiting out the hold
    finally:
        receiver.release()
        fast.remove_all()
    assert max(latencies) < 10.0, latencies
    slow = hooks.deliveries("slow")
    assert len(slow) == 50 and {d["status"] for d in slow} == {"succeeded"}, "not recorded on stop"


def test_a_100_mb_answer_costs_no_memory_and_only_2_kb_are_stored(
    client: TestClient, worker: Worker, hooks: Hooks, receiver: Receiver
) -> None:
    flood = Flood(status=500, size=100 * MB)
    receiver.serve("flood", flood)
    hooks.add("flood")
    hooks.test_event("flood")
    now = datetime.now(UTC)
    gc.collect()
    before = resident()
    sampler = PeakMemory()
    sampler.start()
    try:
        deliver_once(client, worker, now)
    finally:
        peak = sampler.stop()
    gc.collect()
    after = resident()

    assert peak - before < 20 * MB, f"grew by {(peak - before) / MB:.1f} MB while answered"
    assert after - before < 20 * MB, f"grew by {(after - before) / MB:.1f} MB"
    [request] = receiver.at("flood")
    assert request.done.wait(10), "the receiver still writes: the sender never hung up"
    assert request.sent < flood.size, "the whole body was read"
    [delivery] = hooks.deliveries("flood")
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 500 and not attempt["succeeded"]
    stored = attempt["response"]
    assert 0 < len(stored.encode()) <= 2048 and stored == "x" * len(stored)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert parse(delivery["next_attempt_at"]) > now


def test_an_attempt_whose_trigger_was_deleted_meanwhile_does_not_stop_the_recording(
    api: Api, client: TestClient, clock: TestClock, hooks: Hooks, receiver: Receiver
) -> None:
    worker = worker_with(client, clock, webhook_timeout_seconds=3.0, webhook_lease_seconds=6)
    receiver.serve("gone", Hold(seconds=10))
    hooks.add("gone")
    hooks.add("next")
    with pipeline(client, worker):
        hooks.test_event("gone")
        wait_for(lambda: receiver.open_at("gone") == 1, 10, "the attempt held at the receiver")
        assert api.delete(f"/v1/triggers/{hooks.id('gone')}").status_code == 204
        receiver.release()  # answered now, when its trigger and delivery are gone
        hooks.test_event("next")
        wait_for(lambda: receiver.at("next"), 10, "the next trigger's test event")
        wait_for(
            lambda: hooks.deliveries("next")[0]["status"] == "succeeded",
            10,
            "the next trigger's delivery recorded",
        )
