"""Real processes: `bookd serve` on the real clock, and several `bookd worker`s sharing PostgreSQL
while one of them is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url

from bookd.bookings import service as bookings
from bookd.bookings.schemas import BookingCreate
from bookd.catalog import service as catalog
from bookd.catalog.schemas import ServiceCreate, TemplateCreate
from bookd.kit import wakeup
from bookd.kit.db import Database
from bookd.workspaces import service as workspaces
from tests import processes, sizes

BOOKD = str(processes.BOOKD)


def bookd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOOKD, *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.soak
def test_serve_runs_the_lifecycle_on_the_real_clock(tmp_path: Path) -> None:
    """At full size a one-minute meeting with a reminder a minute before it, created a minute
    ahead; small, a meeting of no length a few seconds ahead, its reminder and follow-up at its
    start and end."""
    minutes = sizes.size(0, 1)
    env = {**os.environ, "BOOKD_DATABASE_URL": f"sqlite:///{tmp_path / 'bookd.db'}"}
    key = json.loads(
        bookd("workspace", "create", "e2e", "--timezone", "Europe/Berlin", env=env).stdout
    )["api_key"]
    port = processes.free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [BOOKD, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            for _ in range(100):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert (
                http.post(
                    "/v1/services",
                    json={"name": "E2E", "service_uid": "e2e", "default_duration": minutes},
                ).status_code
                == 201
            )
            assert (
                http.post(
                    "/v1/services/e2e/reminders", json={"title": "soon", "minutes": minutes}
                ).status_code
                == 201
            )
            assert (
                http.post("/v1/services/e2e/followups", json={"title": "thanks"}).status_code == 201
            )
            # The reminder falls due 5 s after the creation, so that it is created pending however
            # busy the machine is.
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes, seconds=5)
            created = http.post(
                "/v1/bookings",
                json={"service_uid": "e2e", "bot_user_ns": "u", "start_time": start.isoformat()},
            )
            assert created.status_code == 201, created.text
            booking_id = created.json()["id"]
            due = {
                "REMINDER_SENDING": start - timedelta(minutes=minutes),
                "MEETING_STARTED": start,
                "MEETING_ENDED": start + timedelta(minutes=minutes),
                "BOOKING_COMPLETED": start + timedelta(minutes=minutes),
                "FOLLOWUP_SENDING": start + timedelta(minutes=minutes),
            }
            deadline = time.monotonic() + 150
            events: list[dict[str, str]] = []
            while time.monotonic() < deadline:
                events = http.get("/v1/events", params={"booking_id": booking_id}).json()["data"]
                if any(e["type"] == "FOLLOWUP_SENDING" for e in events):
                    break
                time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    assert [e["type"] for e in events] == ["BOOKING_CREATED", *due]
    for event in events[1:]:
        lateness = (parse(event["occurred_at"]) - due[event["type"]]).total_seconds()
        # occurred_at is at whole seconds; the event is never early and at most 2 s late (a
        # promise `make soak` holds it to; on a busy machine `make test` allows 10 s).
        assert -1 <= lateness <= sizes.size(10, 2), (event["type"], lateness)
    # uvicorn re-raises SIGTERM after its graceful shutdown, which includes stopping the scheduler.
    output = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output


async def _seed(url: str, *, bookings_count: int, due_at: datetime) -> None:
    db = Database(url, pool_size=2)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "load", "UTC", now)
            await catalog.create_service(
                session,
                workspace.id,
                ServiceCreate(name="Load", service_uid="load", default_duration=30),
                now,
            )
            for n in range(3):
                await catalog.create_template(
                    session,
                    workspace.id,
                    "load",
                    "reminder",
                    TemplateCreate(title=f"r{n}", hours=1),
                    now,
                )
            ctx = bookings.Context(session=session, workspace=workspace, actor="test", now=now)
            for n in range(bookings_count):
                body = BookingCreate(
                    service_uid="load",
                    bot_user_ns=f"user-{n % 50}",
                    start_time=due_at + timedelta(hours=1),
                )
                await bookings.create_booking(ctx, body)
    finally:
        await db.dispose()


async def _counts(url: str) -> tuple[int, int, int, int]:
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        sent = await conn.fetchval("SELECT count(*) FROM booking_messages WHERE status = 'sent'")
        pending = await conn.fetchval(
            "SELECT count(*) FROM booking_messages WHERE status = 'pending'"
        )
        events = await conn.fetchval("SELECT count(*) FROM events WHERE type = 'REMINDER_SENDING'")
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT (data::jsonb -> 'reminder' ->> 'id')) FROM events WHERE type = 'REMINDER_SENDING'"
        )
        return sent, pending, events, distinct
    finally:
        await conn.close()


@pytest.mark.soak
def test_three_workers_one_killed_send_every_reminder_once(scratch_postgres: str) -> None:
    """Three reminders each of 1,000 bookings at full size (200 small), due at once; three workers
    claim them ten bookings at a time, and one is SIGKILLed a fifth of the way through."""
    url = scratch_postgres
    count = sizes.size(200, 1000)
    reminders = 3 * count
    # Seeded with the clock of its start, so every reminder is pending; due once workers run.
    due_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=sizes.size(5, 45))
    asyncio.run(_seed(url, bookings_count=count, due_at=due_at))
    assert asyncio.run(_counts(url)) == (0, reminders, 0, 0)
    env = {**os.environ, "BOOKD_DATABASE_URL": url, "BOOKD_SCHEDULER_BATCH_SIZE": "10"}
    workers = [
        subprocess.Popen(
            [BOOKD, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(3)
    ]
    try:
        killed_at = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            sent, pending, _events, _distinct = asyncio.run(_counts(url))
            if killed_at is None and sent >= reminders // 5:
                workers[0].send_signal(signal.SIGKILL)
                killed_at = sent
            if pending == 0:
                break
            time.sleep(0.05)
        assert killed_at is not None and killed_at < reminders, "the kill came too late to matter"
        assert workers[0].wait(timeout=10) == -signal.SIGKILL
    finally:
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        for worker in workers[1:]:
            assert worker.wait(timeout=30) == 0
    assert asyncio.run(_counts(url)) == (reminders, 0, reminders, reminders)


async def _one_booking(url: str, *, reminder_due: datetime) -> None:
    db = Database(url, pool_size=1)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(
                session, f"wake-{now.timestamp()}", "UTC", now
            )
            uid = f"wake{int(now.timestamp() * 1000)}"
            await catalog.create_service(
                session,
                workspace.id,
                ServiceCreate(name="Wake", service_uid=uid, default_duration=5),
                now,
            )
            await catalog.create_template(
                session, workspace.id, uid, "reminder", TemplateCreate(title="r", minutes=1), now
            )
            ctx = bookings.Context(session=session, workspace=workspace, actor="test", now=now)
            body = BookingCreate(
                service_uid=uid, bot_user_ns="u", start_time=reminder_due + timedelta(minutes=1)
            )
            await bookings.create_booking(ctx, body)
    finally:
        await db.dispose()


async def _sent_at(url: str) -> datetime | None:
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        value: datetime | None = await conn.fetchval(
            "SELECT max(sent_at) FROM booking_messages WHERE status = 'sent'"
        )
        return value
    finally:
        await conn.close()


async def _listeners(url: str) -> int:
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = $1",
            f'LISTEN "{wakeup.CHANNEL}"',
        )
        return count
    finally:
        await conn.close()


def wait_until_listening(url: str, worker: subprocess.Popen[bytes]) -> None:
    """Until `worker` listens for wake-ups (its LISTEN is seen in pg_stat_activity)."""
    deadline = time.monotonic() + 30
    while asyncio.run(_listeners(url)) == 0:
        assert worker.poll() is None, f"the worker exited {worker.returncode}"
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.1)


def test_notify_wakes_a_sleeping_worker(scratch_postgres: str) -> None:
    """A worker with nothing due sleeps its longest (here 60 s); a new booking whose reminder is due
    in 3 s wakes it through NOTIFY, so the reminder goes out on time, not a minute late."""
    url = scratch_postgres
    env = {**os.environ, "BOOKD_DATABASE_URL": url, "BOOKD_SCHEDULER_MAX_SLEEP": "60"}
    worker = subprocess.Popen(
        [BOOKD, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_listening(url, worker)
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        asyncio.run(_one_booking(url, reminder_due=due))
        deadline = time.monotonic() + 20
        sent = None
        while sent is None and time.monotonic() < deadline:
            sent = asyncio.run(_sent_at(url))
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert sent is not None, "the reminder was not sent within 20 s"
    # Without the wake-up it would go out up to a minute late.
    assert timedelta(0) <= sent - due <= timedelta(seconds=10)
