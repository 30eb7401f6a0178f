"""Workload 1: due-reminder throughput. N pending reminders, all due now, on bookings of several
workspaces and services; one process drains them. Reminders per second from the first commit seen
to the last. bookd (`bookd worker`, PostgreSQL and SQLite) beside the floor (plain asyncpg batch
claims) and the peer (procrastinate, one job per reminder)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from bench import seed
from bench.common import (
    BOOKD,
    Row,
    compare,
    fresh_postgres,
    fresh_sqlite,
    log,
    pg_plain,
    scaled,
    start,
    stop,
    watch_events,
)


def due_now(count: int) -> list[datetime]:
    """`count` due times spread over the last 28 minutes (all well inside the stale window; the
    bookings start 31 to 59 minutes from now, so nothing but the reminders falls due meanwhile)."""
    now = datetime.now(UTC).replace(microsecond=0)
    span = 28 * 60
    return [now - timedelta(seconds=60 + (i * span) // count) for i in range(count)]


def drain(url: str, args: list[str], total: int, label: str, *, env: dict[str, str]) -> float:
    """Run `args` until `total` events are committed; rows per second, first to last commit."""
    proc = start(args, env=env, log_name=label)
    try:
        first, last = asyncio.run(watch_events(url, total, give_up_after=900, proc=proc))
    finally:
        stop(proc)
    rate = total / max(last - first, 1e-3)
    log(f"{label}: {total} in {last - first:.2f} s = {rate:,.0f}/s")
    return rate


async def _check_bookd(url: str, total: int) -> None:
    """bookd's guarantees held: every reminder sent once, with one event and one log row."""
    from bench.common import Counter

    counter = Counter(url)
    await counter.open()
    try:
        sent = await counter.value(
            "SELECT count(*) FROM booking_messages WHERE status = 'sent' AND sequence = $1",
            seed.DUE_SEQUENCE,
        )
        events = await counter.value("SELECT count(*) FROM events WHERE type = 'REMINDER_SENDING'")
        logs = await counter.value(
            "SELECT count(*) FROM booking_logs WHERE action = 'send_reminder'"
        )
    finally:
        await counter.close()
    if not sent == events == logs == total:
        raise AssertionError(f"expected {total} sent/events/logs, got {sent}/{events}/{logs}")


def run() -> list[Row]:
    total = scaled(200_000, 20_000)
    # SQLite drains the same way, fewer of them: its rate is steady well before 200,000.
    lite_total = scaled(50_000, 10_000)
    # procrastinate does some tens to hundreds a second: 200,000 would take an hour on a slow
    # machine. 2,500 jobs take it half a minute there, its rate steady long before.
    peer_total = scaled(2_500, 1_000)
    rows: list[Row] = []
    log(f"workload 1: {total:,} due reminders")

    with fresh_postgres("w1_seed") as template:
        seed.build(template, due_now(total))
        with fresh_postgres("w1_floor", template=template) as url:
            floor = drain(
                url,
                [sys.executable, "-m", "bench.floor", pg_plain(url), "500"],
                total,
                "w1_floor",
                env={},
            )
        with fresh_postgres("w1_bookd", template=template) as url:
            bookd_pg = drain(url, [BOOKD, "worker"], total, "w1_bookd_pg", env=_env(url))
            asyncio.run(_check_bookd(url, total))

    with fresh_postgres("w1_peer") as url:
        seed.build(url, due_now(peer_total))
        deferred = start(
            [sys.executable, "-m", "bench.peer", "defer", pg_plain(url)], log_name="w1_defer"
        )
        if deferred.wait(timeout=300) != 0:
            raise RuntimeError("deferring the procrastinate jobs failed")
        peer = drain(
            url,
            [sys.executable, "-m", "bench.peer", "work", pg_plain(url), "10"],
            peer_total,
            "w1_procrastinate",
            env={},
        )

    with fresh_sqlite("w1_bookd") as url:
        seed.build(url, due_now(lite_total))
        bookd_lite = drain(url, [BOOKD, "worker"], lite_total, "w1_bookd_sqlite", env=_env(url))
        asyncio.run(_check_bookd(url, lite_total))

    rows.append(
        compare(
            "w1 due reminders/s: bookd worker, PostgreSQL",
            bookd_pg,
            "reminders/s",
            "floor: asyncpg batch claim, 1 process",
            floor,
            target=">= 0.5 x floor",
            met=bookd_pg >= 0.5 * floor,
        )
    )
    rows.append(
        compare(
            "w1 due reminders/s: bookd worker, PostgreSQL",
            bookd_pg,
            "reminders/s",
            "peer: procrastinate, concurrency 10",
            peer,
            target=">= 20 x procrastinate",
            met=bookd_pg >= 20 * peer,
        )
    )
    rows.append(
        compare(
            "w1 due reminders/s: bookd worker, SQLite",
            bookd_lite,
            "reminders/s",
            "floor: asyncpg batch claim, 1 process",
            floor,
        )
    )
    return rows


def _env(url: str) -> dict[str, str]:
    return {"BOOKD_DATABASE_URL": url}
