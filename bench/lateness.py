"""Workload 2: lateness under load. Reminders fall due at RATE per second for DURATION seconds
(RATE of them at each whole second, as bookings start on whole seconds); one `bookd worker` sends
them. Lateness = when the event is seen committed - the reminder's due time; p50, p99, max.

The watcher reads new outbox rows every 10 ms (`seq > last`: one process inserts events here, so
they become visible in `seq` order), so a lateness is at most ~10 ms above the true commit time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bench import seed
from bench.common import (
    BOOKD,
    Counter,
    Row,
    compare,
    fresh_postgres,
    fresh_sqlite,
    log,
    percentile,
    scaled,
    start,
    stop,
)

RATE = 1000
LEAD = 45.0  # seconds from seeding to the first due time: seeding 60,000 and the worker's start fit in it (30 s here)


# Event seqs are taken at insert and become visible at commit: a worker's concurrent batches (or
# several workers) commit them out of order, so the watcher cannot read on from the highest seq it
# has seen. It reads on from the highest below which it has seen every seq; a hole that stays
# open this long is a rolled-back insert's, and is stepped over.
HOLE_SECONDS = 5.0


async def _watch(url: str, due: dict[int, float], *, until: float) -> list[float]:
    counter = Counter(url)
    await counter.open()
    late: dict[int, float] = {}
    seen_seqs: set[int] = set()
    low = 0  # every seq up to here is seen
    highest = 0
    moved = time.time()
    try:
        while len(late) < len(due) and time.time() < until:
            rows = await counter.fetch("SELECT seq, booking_id FROM events WHERE seq > $1", low)
            seen = time.time()
            for seq, booking_id in rows:
                if seq not in seen_seqs:
                    seen_seqs.add(seq)
                    highest = max(highest, seq)
                    late.setdefault(booking_id, seen - due[booking_id])
            start = low
            while low + 1 in seen_seqs:
                low += 1
            if low != start:
                moved = seen
            elif highest > low and seen - moved > HOLE_SECONDS:
                low = min(s for s in seen_seqs if s > low) - 1
                moved = seen
            await asyncio.sleep(0.01)
    finally:
        await counter.close()
    return list(late.values())


def measure(url: str, label: str, duration: int) -> list[float]:
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
    times = [first + timedelta(seconds=s) for s in range(duration) for _ in range(RATE)]
    seed.build(url, times)
    due = {n + 1: t.timestamp() for n, t in enumerate(times)}
    proc = start([BOOKD, "worker"], env={"BOOKD_DATABASE_URL": url}, log_name=label)
    try:
        if time.time() > first.timestamp() - 3:
            raise RuntimeError("seeding took longer than the lead; raise LEAD")
        late = asyncio.run(_watch(url, due, until=first.timestamp() + duration + 120))
    finally:
        stop(proc)
    if len(late) != len(due):
        raise AssertionError(f"{label}: {len(late)} of {len(due)} reminders sent")
    log(
        f"{label}: {len(late)} reminders, lateness p50 {percentile(late, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(late, 0.99) * 1000:.0f} ms, max {max(late) * 1000:.0f} ms"
    )
    return late


def run() -> list[Row]:
    duration = scaled(60, 10)
    log(f"workload 2: {RATE}/s falling due for {duration} s")
    rows: list[Row] = []
    for backend, maker in (("PostgreSQL", fresh_postgres), ("SQLite", fresh_sqlite)):
        with maker("w2") as url:
            late = measure(url, f"w2_bookd_{backend.lower()}", duration)
        ms = [x * 1000 for x in late]
        p99 = percentile(ms, 0.99)
        rows += [
            compare(f"w2 lateness p50: bookd worker, {backend}", percentile(ms, 0.5), "ms"),
            compare(
                f"w2 lateness p99: bookd worker, {backend}",
                p99,
                "ms",
                target="<= 1000 ms",
                met=p99 <= 1000,
            ),
            compare(f"w2 lateness max: bookd worker, {backend}", max(ms), "ms"),
        ]
    return rows
