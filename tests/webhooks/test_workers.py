"""Several `bookd worker` processes deliver one outbox together on PostgreSQL, while one of them is
killed: every (event, trigger) pair arrives, and a pair arrives twice only where the killed worker
lost an attempt's answer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import make_url
from standardwebhooks import Webhook

from bookd.bookings.domain import EventType
from bookd.events import outbox
from bookd.kit.db import Database
from bookd.webhooks import service as webhooks
from bookd.webhooks.guard import Guard
from bookd.webhooks.schemas import TriggerCreate
from bookd.workspaces import service as workspaces
from tests.webhooks.receiver import Receiver, start_receiver

BOOKD = str(Path(sys.executable).parent / "bookd")
EVENTS = 5000
TRIGGERS = ("a", "b")
# What one process holds at a time: one claim of at most 64 deliveries (`Sender.run_once`: twice
# its 32 concurrent requests), each leased until its attempt is recorded.
CLAIM_LIMIT = 64
# The shortest lease allowed, so the killed worker's deliveries come free soon after it dies.
LEASE_SECONDS = 20
# Three tenths of the way: the killed worker's leases (20 s after its last claim) run out about
# when the other two are done, so neither the lease nor the lost third of the senders draws the
# test out much.
KILL_AFTER = EVENTS * len(TRIGGERS) * 3 // 10


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = start_receiver(keep_alive=True)
    yield receiver
    receiver.close()


async def _seed(url: str, receiver: Receiver) -> dict[str, str]:
    """Two triggers for every event, then the events straight into the outbox (a few big
    transactions: the API would take minutes to make 5,000). The triggers' secrets by path."""
    db = Database(url, pool_size=2)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "load", "UTC", now)
            secrets = {}
            for name in TRIGGERS:
                body = TriggerCreate.model_validate({"name": name, "url": receiver.url_for(name)})
                trigger = await webhooks.create_trigger(
                    session, workspace.id, body, Guard(allow_private=True), now
                )
                secrets[receiver.path(name)] = trigger.secret
        for batch in range(5):
            async with db.transaction() as session:
                for n in range(batch * EVENTS // 5, (batch + 1) * EVENTS // 5):
                    outbox.record(
                        session,
                        workspace_id=workspace.id,
                        type=EventType.BOOKING_CREATED,
                        occurred_at=now,
                        data={"booking": {"id": n}, "service": {"service_uid": "load"}},
                    )
        return secrets
    finally:
        await db.dispose()


def _asyncpg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _query(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_asyncpg_url(url))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def _watch(
    url: str, receiver: Receiver, victim: subprocess.Popen[bytes]
) -> tuple[int, set[int]]:
    """Kill `victim` three tenths of the way through, note the deliveries it held leased then, and
    wait until every pair is delivered: (requests received at the kill, the held deliveries)."""
    conn = await asyncpg.connect(_asyncpg_url(url))
    leased = "SELECT id, lease FROM deliveries WHERE lease IS NOT NULL"
    progress = (
        "SELECT count(*) AS made, count(*) FILTER (WHERE status = 'succeeded') AS ok"
        " FROM deliveries"
    )
    killed_at = None
    held: set[int] = set()
    made = ok = 0
    try:
        # A bound against a hang, not a speed check: on a slow, shared 2-core machine running
        # other tests beside it the whole delivery has taken over two and a half minutes.
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline:
            if killed_at is None and len(receiver.requests) >= KILL_AFTER:
                victim.send_signal(signal.SIGKILL)
                killed_at = len(receiver.requests)
                # Still under the same lease a few seconds later: the dead worker's (a live one
                # records a claim's attempts within about a second; a dead one's leases stay
                # until they run out, LEASE_SECONDS after the claim).
                before = {r["id"]: r["lease"] for r in await conn.fetch(leased)}
                await asyncio.sleep(5)
                after = {r["id"]: r["lease"] for r in await conn.fetch(leased)}
                held = {id for id, lease in before.items() if after.get(id) == lease}
            made, ok = await conn.fetchrow(progress)
            if killed_at is not None and made == ok == EVENTS * len(TRIGGERS):
                return killed_at, held
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise AssertionError(f"not done in time: {made} deliveries made, {ok} succeeded")


def test_three_workers_one_killed_deliver_every_pair(
    scratch_postgres: str, receiver: Receiver, tmp_path: Path
) -> None:
    url = scratch_postgres
    began = time.monotonic()
    env = {
        **os.environ,
        "BOOKD_DATABASE_URL": url,
        "BOOKD_WEBHOOK_ALLOW_PRIVATE": "true",
        "BOOKD_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    logs = [(tmp_path / f"worker{n}.log").open("w") for n in range(3)]
    # Started first: they relay and send the events as the seeding commits them.
    workers = [
        subprocess.Popen([BOOKD, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    try:
        secrets = asyncio.run(_seed(url, receiver))
        killed_at, held_ids = asyncio.run(_watch(url, receiver, workers[0]))
        assert workers[0].wait(timeout=10) == -signal.SIGKILL
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=30) for worker in workers]
        for log in logs:
            log.close()
    output = "\n".join((tmp_path / f"worker{n}.log").read_text() for n in range(1, 3))
    assert codes[1:] == [0, 0], output[-5000:]
    assert "Traceback" not in output, output[-5000:]
    assert killed_at < EVENTS * len(TRIGGERS) // 2, "the kill came too late to matter"
    assert all(r.path in secrets for r in receiver.requests)

    rows = asyncio.run(
        _query(
            url,
            """SELECT d.id, e.id AS event_id, t.name AS trigger, d.status, d.attempts,
                      count(a.id) FILTER (WHERE a.succeeded) AS ok,
                      count(a.id) FILTER (WHERE NOT a.succeeded) AS failed
               FROM deliveries d JOIN events e ON e.seq = d.event_seq
               JOIN triggers t ON t.id = d.trigger_id
               LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
               GROUP BY d.id, e.id, t.name""",
        )
    )
    assert len(rows) == EVENTS * len(TRIGGERS)
    assert {r["status"] for r in rows} == {"succeeded"}
    assert {(r["ok"], r["failed"], r["attempts"]) for r in rows} == {(1, 0, 1)}

    received: Counter[tuple[str, str]] = Counter()
    for request in receiver.requests:
        payload = Webhook(secrets[request.path]).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == payload["id"]
        received[(payload["id"], request.path.rsplit("/", 1)[1])] += 1
    assert set(received) == {(r["event_id"], r["trigger"]) for r in rows}, "a pair never arrived"
    # Every pair was recorded as delivered once; a second arrival is an attempt whose answer was
    # lost with the killed worker: one of the deliveries it held leased when it died.
    duplicates = {pair: n for pair, n in received.items() if n > 1}
    assert set(duplicates.values()) <= {2}
    held = {(r["event_id"], r["trigger"]) for r in rows if r["id"] in held_ids}
    assert len(held) <= CLAIM_LIMIT
    assert set(duplicates) <= held, "a pair arrived twice that the killed worker did not hold"
    seconds = time.monotonic() - began
    print(
        f"\n{EVENTS * len(TRIGGERS)} pairs delivered in {seconds:.0f} s by 3 workers, one killed"
        f" after {killed_at} requests while it held {len(held)} leased deliveries;"
        f" {len(duplicates)} pair(s) delivered twice"
    )
