"""`bookd worker` processes deliver one outbox while one of them is SIGKILLed mid-flight: every
(event, trigger) pair arrives, each is recorded delivered once, and a pair arrives twice only where
the killed worker held it leased (an attempt whose answer died with it). On PostgreSQL three
workers share the outbox and the two left finish it; on SQLite (one writer, so one worker) a new
worker takes over from the killed one."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook

from bookd.events import outbox
from bookd.events.types import EventType
from bookd.kit.db import Database
from bookd.webhooks import service as webhooks
from bookd.webhooks.guard import Guard
from bookd.webhooks.schemas import TriggerCreate
from bookd.workspaces import service as workspaces
from tests import sizes
from tests.processes import BOOKD, bookd_env
from tests.webhooks.receiver import Receiver, start_receiver

TRIGGERS = ("a", "b")
# What one worker holds leased at a time: for each trigger, its lane's attempts in flight, those
# ended but not yet recorded, and those waiting behind them, together at most twice the trigger's
# concurrency (8 by default): 16, so 32 for two.
CLAIM_LIMIT = len(TRIGGERS) * 2 * 8
# A bound against a hang, not a speed check: on a slow, shared 2-core machine running other tests
# beside it, the PostgreSQL run has taken over two and a half minutes.
PATIENCE = 480


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = start_receiver(keep_alive=True)
    yield receiver
    receiver.close()


@dataclass
class Fleet:
    """`bookd worker` processes, each logging to a file of its own in `folder`."""

    folder: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        with (self.folder / f"worker{len(self.procs)}.log").open("w") as log:
            proc = subprocess.Popen(
                [str(BOOKD), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> list[int]:
        """SIGTERM to those still running; every exit code (a worker that does not stop within
        30 s is killed: -9)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes

    def output(self, first: int = 0) -> str:
        return "\n".join(
            (self.folder / f"worker{n}.log").read_text() for n in range(first, len(self.procs))
        )


async def _seed(url: str, receiver: Receiver, events: int) -> dict[str, str]:
    """Two triggers for every event, then the events straight into the outbox (a few big
    transactions: the API would take minutes to make thousands). The triggers' secrets by path."""
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
                for n in range(batch * events // 5, (batch + 1) * events // 5):
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


async def _rows(db: Database, sql: str) -> list[Any]:
    async with db.transaction(read_only=True) as session:
        return list((await session.execute(text(sql))).mappings())


async def _watch(
    db: Database,
    receiver: Receiver,
    victim: subprocess.Popen[bytes],
    *,
    pairs: int,
    settle: float,
    then: Callable[[], object],
) -> tuple[int, set[int]]:
    """SIGKILL `victim` three tenths of the way through, note the deliveries it held leased then,
    call `then`, and wait until every pair is delivered: (requests received at the kill, the held
    deliveries). A lease still the same `settle` seconds after the kill is the dead worker's (a
    live worker records its attempts within about a second; the dead one's leases stay until they
    run out)."""
    deadline = time.monotonic() + PATIENCE
    while len(receiver.requests) < pairs * 3 // 10:
        assert time.monotonic() < deadline, f"only {len(receiver.requests)} requests came"
        await asyncio.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    killed_at = len(receiver.requests)
    await asyncio.to_thread(victim.wait, 10)
    leased = "SELECT id, lease FROM deliveries WHERE lease IS NOT NULL"
    before = {r["id"]: r["lease"] for r in await _rows(db, leased)}
    await asyncio.sleep(settle)
    after = {r["id"]: r["lease"] for r in await _rows(db, leased)}
    held = {id for id, lease in before.items() if after.get(id) == lease}
    then()
    progress = (
        "SELECT count(*) AS made, count(*) FILTER (WHERE status = 'succeeded') AS ok"
        " FROM deliveries"
    )
    made = ok = 0
    while time.monotonic() < deadline:
        [row] = await _rows(db, progress)
        made, ok = row["made"], row["ok"]
        if made == ok == pairs:
            return killed_at, held
        await asyncio.sleep(0.5)
    raise AssertionError(f"not done in time: {made} deliveries made, {ok} succeeded")


async def _seed_and_watch(
    url: str, receiver: Receiver, victim: subprocess.Popen[bytes], events: int, **watch: Any
) -> tuple[dict[str, str], int, set[int], list[Any]]:
    """Seed while the workers run (they relay and send the events as the seeding commits them),
    and watch; then every delivery with its attempts."""
    db = Database(url, pool_size=2)
    try:
        secrets, (killed_at, held) = await asyncio.gather(
            _seed(url, receiver, events),
            _watch(db, receiver, victim, pairs=events * len(TRIGGERS), **watch),
        )
        rows = await _rows(
            db,
            """SELECT d.id, e.id AS event_id, t.name AS trigger, d.status, d.attempts,
                      count(a.id) FILTER (WHERE a.succeeded) AS ok,
                      count(a.id) FILTER (WHERE NOT a.succeeded) AS failed
               FROM deliveries d JOIN events e ON e.seq = d.event_seq
               JOIN triggers t ON t.id = d.trigger_id
               LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
               GROUP BY d.id, e.id, t.name""",
        )
        return secrets, killed_at, held, rows
    finally:
        await db.dispose()


def deliver_with_one_killed(
    url: str,
    receiver: Receiver,
    folder: Path,
    *,
    events: int,
    workers: int,
    replace: bool,
    settle: float,
    **settings: str,
) -> None:
    """Start `workers` workers, seed `events` events for two triggers, SIGKILL the first worker
    three tenths of the way through (with `replace`, start a new one then), and check that every
    pair arrived and was recorded once."""
    began = time.monotonic()
    env = bookd_env(url, BOOKD_WEBHOOK_ALLOW_PRIVATE="true", **settings)
    fleet = Fleet(folder, env)
    for _ in range(workers):
        fleet.start()
    try:
        secrets, killed_at, held_ids, rows = asyncio.run(
            _seed_and_watch(
                url,
                receiver,
                fleet.procs[0],
                events,
                settle=settle,
                then=fleet.start if replace else lambda: None,
            )
        )
    finally:
        codes = fleet.stop()
    output = fleet.output(first=1)
    assert codes[0] == -signal.SIGKILL, codes
    assert codes[1:] == [0] * (len(codes) - 1), output[-5000:]
    assert "Traceback" not in output, output[-5000:]
    pairs = events * len(TRIGGERS)
    assert killed_at < pairs // 2, "the kill came too late to matter"
    assert all(r.path in secrets for r in receiver.requests)

    assert len(rows) == pairs
    assert {r["status"] for r in rows} == {"succeeded"}
    assert {(r["ok"], r["failed"], r["attempts"]) for r in rows} == {(1, 0, 1)}
    arrivals = []  # the (event, trigger) pair of every request, in the order they came
    for request in receiver.requests:
        payload = Webhook(secrets[request.path]).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == payload["id"]
        arrivals.append((payload["id"], request.path.rsplit("/", 1)[1]))
    received = Counter(arrivals)
    assert set(received) == {(r["event_id"], r["trigger"]) for r in rows}, "a pair never arrived"
    # Every pair was recorded as delivered once; a second arrival is an attempt whose answer was
    # lost with the killed worker: one of the deliveries it held leased when it died.
    duplicates = {pair: n for pair, n in received.items() if n > 1}
    assert set(duplicates.values()) <= {2}
    held = {(r["event_id"], r["trigger"]) for r in rows if r["id"] in held_ids}
    assert set(duplicates) <= held, "a pair arrived twice that the killed worker did not hold"
    # Leases that stayed put for seconds after the kill are the killed worker's, and a busy live
    # worker's too on a loaded machine: what had not arrived by the kill is bounded all the same.
    unsent = held - set(arrivals[:killed_at])
    assert len(unsent) <= CLAIM_LIMIT, f"{len(unsent)} held deliveries had not arrived"
    print(
        f"\n{pairs} pairs delivered in {time.monotonic() - began:.0f} s by {len(codes)} workers,"
        f" one killed after {killed_at} requests while it held {len(held)} leased deliveries"
        f"; {len(duplicates)} pair(s) delivered twice"
    )


@pytest.mark.soak
def test_three_workers_one_killed_deliver_every_pair_on_postgresql(
    scratch_postgres: str, receiver: Receiver, tmp_path: Path
) -> None:
    deliver_with_one_killed(
        scratch_postgres,
        receiver,
        tmp_path,
        events=sizes.size(1000, 5000),
        workers=3,
        replace=False,
        # The leases of the killed worker must outlast the seconds that tell them from the live
        # workers'; the shortest lease the timeout allows, so that they come free soon after.
        settle=sizes.size(3, 5),
        BOOKD_WEBHOOK_TIMEOUT_SECONDS=sizes.size("3", "10"),
        BOOKD_WEBHOOK_LEASE_SECONDS=sizes.size("6", "20"),
    )


@pytest.mark.soak
def test_a_killed_worker_is_replaced_and_every_pair_arrives_on_sqlite(
    receiver: Receiver, scratch_sqlite: str, tmp_path: Path
) -> None:
    deliver_with_one_killed(
        scratch_sqlite,
        receiver,
        tmp_path,
        events=sizes.size(300, 1000),
        workers=1,
        replace=True,
        # The killed worker was the only one: every lease left is its own.
        settle=0,
        # A short deadline allows a short lease: the new worker takes the killed one's deliveries
        # over soon after their claim.
        BOOKD_WEBHOOK_TIMEOUT_SECONDS=sizes.size("2", "5"),
        BOOKD_WEBHOOK_LEASE_SECONDS=sizes.size("4", "10"),
    )
