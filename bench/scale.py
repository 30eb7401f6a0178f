"""Workload 4: scale. The scheduler's idle tick (a tick that finds nothing due, plus the look-up of
the next due time that decides its sleep) and the plans of the due queries, with SMALL and LARGE
stored bookings. Most bookings are past (completed, cancelled, no-show, with their reminders sent
or skipped); a tenth are still to come, with pending reminders not yet due. The plans are read with
EXPLAIN on the very statements a tick sends (captured from the engine), with their parameters.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import event

from bench import seed
from bench.common import (
    Row,
    compare,
    fresh_postgres,
    fresh_sqlite,
    log,
    median,
    pg_plain,
    scaled,
    sqlite_path,
)
from bookd.config import Settings
from bookd.kit.db import Database
from bookd.worker import Worker

# Nine in ten bookings are past (completed, cancelled, no-show); one in ten starts two to sixty-two
# days ahead, so none of its reminders (at most a day before) falls due while the workload runs.
PG_SEED = """
INSERT INTO bookings (id, workspace_id, service_id, bot_user_id, status, start_time, end_time,
  duration, location, source, metadata, notes, reschedule_count, version, created_at, updated_at)
SELECT g, s.workspace_id, s.id, u.first + g % 400,
  CASE WHEN g % 10 = 0 THEN (CASE WHEN g % 20 = 0 THEN 'confirmed' ELSE 'pending' END)
       WHEN g % 10 IN (1, 2) THEN 'cancelled' WHEN g % 10 = 3 THEN 'no_show' ELSE 'completed' END,
  t.start, t.start + make_interval(mins => s.default_duration), s.default_duration,
  'Room 1', 'api', NULL, '', 0, 3, t.start - interval '7 days', t.start
FROM generate_series(1, $1) AS g
CROSS JOIN LATERAL (SELECT
  CASE WHEN g % 10 = 0 THEN now() + make_interval(mins => 3000 + ((g::bigint * 7919) % 86400)::int)
       ELSE now() - make_interval(mins => 60 + ((g::bigint * 7919) % 1008000)::int) END AS start) t
JOIN booking_services s ON s.id = 1 + g % $2
JOIN (SELECT workspace_id, min(id) AS first FROM bot_users GROUP BY workspace_id) u
  ON u.workspace_id = s.workspace_id
"""
PG_MESSAGES = """
INSERT INTO booking_messages (booking_id, template_id, kind, sequence, title, description,
  scheduled_at, status, sent_at, skip_reason, created_at)
SELECT b.id, t.id, 'reminder', t.sequence, t.title, t.description,
  b.start_time - make_interval(days => t.days, hours => t.hours, mins => t.minutes),
  CASE WHEN b.status IN ('pending', 'confirmed') THEN 'pending'
       WHEN b.status = 'cancelled' THEN 'cancelled' ELSE 'sent' END,
  CASE WHEN b.status IN ('completed', 'no_show') THEN b.start_time - interval '1 hour' END,
  CASE WHEN b.status = 'cancelled' THEN 'booking cancelled' END,
  b.created_at
FROM bookings b JOIN service_templates t
  ON t.service_id = b.service_id AND t.kind = 'reminder'
  AND t.sequence <= CASE WHEN b.status IN ('pending', 'confirmed') THEN 2 ELSE 1 END
"""


# The seeded tables' secondary indexes are dropped before the rows go in and made again, from
# their own definitions, afterwards: building an index once is several times faster than growing
# it row by row (the 2,000,000 bookings took over three minutes here, most of `make bench`'s
# fifteen). The indexes are the migrations' to the letter, the ones the plans are read on.
SEEDED = ("bookings", "booking_messages")
PG_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
JOIN pg_class c ON c.relname = i.indexname
JOIN pg_index x ON x.indexrelid = c.oid
WHERE i.tablename = ANY($1::text[]) AND NOT x.indisprimary AND NOT x.indisunique
"""


async def _seed_postgres(url: str, count: int, services: int) -> None:
    conn = await asyncpg.connect(pg_plain(url))
    try:
        indexes = await conn.fetch(PG_INDEXES, list(SEEDED))
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        await conn.execute(PG_SEED, count, services)
        await conn.execute(PG_MESSAGES)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
    finally:
        await conn.close()


def _seed_sqlite(url: str, count: int, services: int) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with sqlite3.connect(sqlite_path(url)) as conn:
        marks = ",".join("?" * len(SEEDED))
        indexes = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({marks}) AND sql NOT LIKE 'CREATE UNIQUE%'",
            SEEDED,
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(
            """
            WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
            INSERT INTO bookings (id, workspace_id, service_id, bot_user_id, status, start_time,
              end_time, duration, location, source, metadata, notes, reschedule_count, version,
              created_at, updated_at)
            SELECT n, s.workspace_id, s.id,
              (SELECT min(id) FROM bot_users u WHERE u.workspace_id = s.workspace_id) + n % 400,
              CASE WHEN n % 10 = 0 THEN (CASE WHEN n % 20 = 0 THEN 'confirmed' ELSE 'pending' END)
                   WHEN n % 10 IN (1, 2) THEN 'cancelled' WHEN n % 10 = 3 THEN 'no_show'
                   ELSE 'completed' END,
              st, strftime('%Y-%m-%d %H:%M:%f000', st, '+' || s.default_duration || ' minutes'),
              s.default_duration, 'Room 1', 'api', NULL, '', 0, 3,
              strftime('%Y-%m-%d %H:%M:%f000', st, '-7 days'), st
            FROM (SELECT n, strftime('%Y-%m-%d %H:%M:%f000', ?,
                    CASE WHEN n % 10 = 0 THEN '+' ELSE '-' END
                    || (CASE WHEN n % 10 = 0 THEN 3000 + (n * 7919) % 86400
                             ELSE 60 + (n * 7919) % 1008000 END)
                    || ' minutes') AS st FROM g) x
            JOIN booking_services s ON s.id = 1 + n % ?
            """,
            (count, now.isoformat(sep=" "), services),
        )
        conn.execute(
            """
            INSERT INTO booking_messages (booking_id, template_id, kind, sequence, title,
              description, scheduled_at, status, sent_at, skip_reason, created_at)
            SELECT b.id, t.id, 'reminder', t.sequence, t.title, t.description,
              strftime('%Y-%m-%d %H:%M:%f000', b.start_time, '-' || t.days || ' days',
                       '-' || t.hours || ' hours', '-' || t.minutes || ' minutes') AS at,
              CASE WHEN b.status IN ('pending', 'confirmed') THEN 'pending'
                   WHEN b.status = 'cancelled' THEN 'cancelled' ELSE 'sent' END,
              NULL, CASE WHEN b.status = 'cancelled' THEN 'booking cancelled' END, b.created_at
            FROM bookings b JOIN service_templates t
              ON t.service_id = b.service_id AND t.kind = 'reminder'
              AND t.sequence <= CASE WHEN b.status IN ('pending', 'confirmed') THEN 2 ELSE 1 END
            """
        )
        for _name, sql in indexes:
            conn.execute(sql)


def build(url: str, count: int) -> None:
    seed.migrate_db(url)
    tenants = asyncio.run(seed.make_tenants(url, count=4, bot_users=400))
    services = sum(len(t.services) for t in tenants)
    began = time.perf_counter()
    if url.startswith("sqlite"):
        _seed_sqlite(url, count, services)
    else:
        asyncio.run(_seed_postgres(url, count, services))
    asyncio.run(seed.analyze(url))
    log(f"seeded {count:,} bookings in {time.perf_counter() - began:.1f} s")


async def _idle_ticks(url: str, rounds: int) -> tuple[float, list[tuple[str, Any]]]:
    """Median seconds of an idle scheduler round (tick + next-due look-up); the statements sent."""
    db = Database(url, pool_size=2)
    worker = Worker(db, Settings.from_env(database_url=url))
    captured: list[tuple[str, Any]] = []
    try:
        for _ in range(20):  # warm: connections, prepared statements, caches
            result = await worker.tick()
            assert result.claimed == 0, f"the scale data has something due: {result.counts}"
            await worker._sleep_seconds()

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, params))

        await worker.tick()
        await worker._sleep_seconds()
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
        times: list[float] = []
        deadline = time.monotonic() + 20  # a slow round (a full scan) must not stall the run
        while len(times) < rounds and (len(times) < 5 or time.monotonic() < deadline):
            began = time.perf_counter()
            await worker.tick()
            await worker._sleep_seconds()
            times.append(time.perf_counter() - began)
    finally:
        await db.dispose()
    return median(times), captured


def _scans_pg(plan: dict[str, Any]) -> list[str]:
    found = []
    node_type = plan.get("Node Type", "")
    if "Scan" in node_type:
        where = plan.get("Relation Name") or ""
        index = plan.get("Index Name")
        found.append(f"{node_type} {where}" + (f" using {index}" if index else ""))
    for child in plan.get("Plans", []):
        found.extend(_scans_pg(child))
    return found


async def _plans_pg(url: str, statements: list[tuple[str, Any]]) -> list[list[str]]:
    conn = await asyncpg.connect(pg_plain(url))
    try:
        plans = []
        for sql, params in statements:
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)
            plans.append(_scans_pg(json.loads(raw)[0]["Plan"]))
        return plans
    finally:
        await conn.close()


def _plans_sqlite(url: str, statements: list[tuple[str, Any]]) -> list[list[str]]:
    with sqlite3.connect(sqlite_path(url)) as conn:
        return [
            [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            for sql, params in statements
        ]


PARTIAL_INDEXES = ("ix_bookings_due_start", "ix_bookings_due_end", "ix_booking_messages_due")


def _off_index(plans: list[list[str]], sqlite: bool) -> list[str]:
    """Due queries whose plan does not read one of the partial due indexes, or scans a table."""
    bad = []
    for steps in plans:
        joined = " | ".join(steps)
        if not any(index in joined for index in PARTIAL_INDEXES):
            bad.append(joined)
        for step in steps:
            # SQLite's `SCAN anon_1` reads a subquery's rows (a union's legs), not a table.
            full = (
                (
                    step.startswith("SCAN")
                    and "USING" not in step
                    and not step.startswith("SCAN anon_")
                )
                if sqlite
                else "Seq Scan" in step
            )
            if full:
                bad.append(step)
    return bad


def measure(url: str, count: int) -> tuple[float, list[list[str]]]:
    build(url, count)
    tick, statements = asyncio.run(_idle_ticks(url, scaled(200, 50)))
    sqlite = url.startswith("sqlite")
    plans = _plans_sqlite(url, statements) if sqlite else asyncio.run(_plans_pg(url, statements))
    log(f"{count:,} bookings: idle round {tick * 1000:.2f} ms; scans: {plans}")
    return tick, plans


def run() -> list[Row]:
    small = 10_000
    # SQLite gets a quarter of the bookings: seeding 1,000,000 into it took over two minutes on a
    # slow machine of this kind, and `make bench` has fifteen in all.
    sizes = (
        ("PostgreSQL", fresh_postgres, scaled(2_000_000, 200_000)),
        ("SQLite", fresh_sqlite, scaled(500_000, 200_000)),
    )
    log(f"workload 4: idle tick with {small:,} and {sizes[0][2]:,} ({sizes[1][2]:,}) bookings")
    rows: list[Row] = []
    for backend, maker, large in sizes:
        results = {}
        for count in (small, large):
            with maker(f"w4_{count}") as url:
                results[count] = measure(url, count)
        (tick_small, plans_small), (tick_large, plans_large) = results[small], results[large]
        sqlite = backend == "SQLite"
        bad = _off_index(plans_small + plans_large, sqlite)
        rows.append(
            compare(
                f"w4 idle scheduler round, {large:,} bookings: {backend}",
                tick_large * 1000,
                "ms",
                f"the same, {small:,} bookings",
                tick_small * 1000,
                target="<= 2 x",
                met=tick_large <= 2 * tick_small,
            )
        )
        rows.append(
            compare(
                f"w4 due queries not on a partial index: {backend}",
                float(len(bad)),
                "queries",
                target="0 (partial index scans only)",
                met=not bad,
            )
        )
        if bad:
            log(f"{backend}: off the partial indexes: {sorted(set(bad))}")
    return rows
