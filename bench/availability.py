"""Workload 5: free slots. The slots of a 31-day window (what `GET /v1/services/{uid}/slots` and
the `list_available_slots` action compute) for a service with 10,000 bookings, through bookd's
own service function in process, on PostgreSQL and on SQLite.

The service is open 08:00-20:00 every day, capacity 10, 30-minute bookings offered every 15
minutes. Its 10,000 bookings lie on the half-hour grid of the 62 days from the window's start (so
the window holds about half of them), at most 10 at a time, one in ten cancelled. Baselines: the
same computation for a service with the same settings and no bookings, and one plain SQL count
of the window's bookings (the database's share of the work).
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench import seed
from bench.common import Row, compare, fresh_postgres, fresh_sqlite, log, median, scaled
from bookd.availability import service as availability
from bookd.availability.schemas import AvailabilityIn, SlotQuery
from bookd.bookings import slots
from bookd.bookings.models import Booking
from bookd.kit.db import Database
from bookd.workspaces.models import Workspace

BOOKINGS = 10_000
CAPACITY = 10
WINDOW_DAYS = 31
SPREAD_DAYS = 62
SETTINGS = AvailabilityIn.model_validate(
    {
        "weekly_hours": {
            day: [{"start": "08:00", "end": "20:00"}]
            for day in (
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            )
        },
        "capacity": CAPACITY,
        "slot_interval": 15,
    }
)
# The bookings get their ids from the database here.
COLUMNS = [c for c in seed.BOOKING_COLUMNS if c != "id"]


def _bookings(
    workspace_id: int, service_id: int, bot_users: list[int], first_day: datetime
) -> list[tuple[object, ...]]:
    """BOOKINGS rows on the half-hour grid of the opening hours, at most CAPACITY per start."""
    rng = random.Random(5)
    starts = [
        first_day + timedelta(days=d, hours=8, minutes=30 * h)
        for d in range(SPREAD_DAYS)
        for h in range(24)
    ]
    taken: dict[datetime, int] = {}
    rows: list[tuple[object, ...]] = []
    created = first_day - timedelta(days=30)
    while len(rows) < BOOKINGS:
        start = rng.choice(starts)
        if taken.get(start, 0) >= CAPACITY:
            continue
        taken[start] = taken.get(start, 0) + 1
        status = "cancelled" if len(rows) % 10 == 0 else rng.choice(("pending", "confirmed"))
        rows.append(
            (
                workspace_id,
                service_id,
                rng.choice(bot_users),
                status,
                start,
                start + timedelta(minutes=30),
                30,
                "Room 1",
                "bench",
                None,
                "",
                0,
                1,
                created,
                created,
            )
        )
    return rows


async def _prepare(url: str) -> tuple[int, str, str, datetime]:
    """A workspace with two services of the same settings: one with the bookings, one without."""
    tenant = (await seed.make_tenants(url, count=1, bot_users=200))[0]
    (busy_id, busy_uid, _), (_, empty_uid, _) = tenant.services[0], tenant.services[1]
    db = Database(url, pool_size=1)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            for uid in (busy_uid, empty_uid):
                await availability.put_settings(session, tenant.workspace_id, uid, SETTINGS, now)
    finally:
        await db.dispose()
    first_day = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = _bookings(tenant.workspace_id, busy_id, tenant.bot_users, first_day)
    await seed._bulk(url, "bookings", COLUMNS, rows)
    await seed.analyze(url)
    return tenant.workspace_id, busy_uid, empty_uid, first_day


async def _time_slots(
    url: str, workspace_id: int, uids: tuple[str, str], first_day: datetime, rounds: int
) -> tuple[dict[str, float], dict[str, int], float]:
    """Median seconds of the slots computation per service, the slots found, and the median of a
    plain count of the window's bookings."""
    db = Database(url, pool_size=1)
    query = SlotQuery.model_validate(
        # The two services' own durations differ; both are asked for the bookings' 30 minutes.
        {"from": first_day, "to": first_day + timedelta(days=WINDOW_DAYS), "duration": 30}
    )
    now = datetime.now(UTC)
    timings: dict[str, list[float]] = {uid: [] for uid in uids}
    found: dict[str, int] = {}
    counts: list[float] = []
    try:
        for _ in range(rounds):
            for uid in uids:
                async with db.transaction(read_only=True) as session:
                    workspace = await session.get(Workspace, workspace_id)
                    assert workspace is not None
                    began = time.perf_counter()
                    answer = await slots.list_slots(session, workspace, uid, query, now)
                    timings[uid].append(time.perf_counter() - began)
                    found[uid] = len(answer.data)
            async with db.transaction(read_only=True) as session:
                began = time.perf_counter()
                await session.scalar(
                    select(func.count())
                    .select_from(Booking)
                    .where(
                        Booking.start_time >= first_day,
                        Booking.start_time < first_day + timedelta(days=WINDOW_DAYS),
                    )
                )
                counts.append(time.perf_counter() - began)
    finally:
        await db.dispose()
    return {uid: median(t) for uid, t in timings.items()}, found, median(counts)


def measure(url: str) -> tuple[float, float, float]:
    seed.migrate_db(url)
    workspace_id, busy_uid, empty_uid, first_day = asyncio.run(_prepare(url))
    rounds = scaled(30, 10)
    medians, found, count = asyncio.run(
        _time_slots(url, workspace_id, (busy_uid, empty_uid), first_day, rounds)
    )
    log(
        f"slots of {WINDOW_DAYS} days: {medians[busy_uid] * 1000:.1f} ms with {BOOKINGS:,} "
        f"bookings ({found[busy_uid]:,} slots), {medians[empty_uid] * 1000:.1f} ms with none "
        f"({found[empty_uid]:,} slots); count query {count * 1000:.2f} ms"
    )
    return medians[busy_uid], medians[empty_uid], count


def run() -> list[Row]:
    log(f"workload 5: slots of a {WINDOW_DAYS}-day window, a service with {BOOKINGS:,} bookings")
    rows: list[Row] = []
    for backend, maker in (("PostgreSQL", fresh_postgres), ("SQLite", fresh_sqlite)):
        with maker("w5") as url:
            busy, empty, count = measure(url)
        name = f"w5 slots of {WINDOW_DAYS} days, {BOOKINGS:,} bookings: {backend}"
        rows.append(compare(name, busy * 1000, "ms", "the same, 0 bookings", empty * 1000))
        rows.append(
            compare(
                name, busy * 1000, "ms", "plain SQL count of the window's bookings", count * 1000
            )
        )
    return rows
