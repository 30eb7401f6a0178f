"""Workload 7: analytics. A year of the report by week (`GET /v1/analytics`: the report and its
JSON) for one workspace with LARGE bookings spread over that year, beside the baseline: the same
figures of the bookings read by one plain SQL scan of the bookings table (grouped by week,
service, status, rating and lead-time bucket). The counters are made by
`bookd analytics rebuild`'s function; how long that takes is reported too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg
from sqlalchemy import bindparam, text

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
from bookd.analytics import service as analytics
from bookd.analytics.schemas import AnalyticsQuery
from bookd.bookings.counts import LEAD_BOUNDS
from bookd.kit.db import Database, UTCDateTime
from bookd.workspaces.models import Workspace

RUNS = 15
# The scan takes seconds at a million bookings: its median of a few runs.
SCAN_RUNS = 3
DAYS = 364
REASONS = ("Too expensive", "too expensive ", "Ill", "Found another provider", "Moved away")

# A year of bookings, start times spread over it, made 0 to 60 days before; statuses, ratings,
# reschedules and reasons in the proportions a busy service sees.
PG_SEED = """
INSERT INTO bookings (id, workspace_id, service_id, bot_user_id, status, start_time, end_time,
  duration, location, source, metadata, notes, rating, cancel_reason, reschedule_reason,
  reschedule_count, version, created_at, updated_at)
SELECT g, $2, s.id, $3 + g % 400,
  CASE WHEN g % 10 IN (1, 2) THEN 'cancelled' WHEN g % 10 = 3 THEN 'no_show'
       WHEN g % 10 = 4 THEN 'inactive' ELSE 'completed' END,
  t.start, t.start + interval '30 minutes', 30, '', 'api', NULL, '',
  CASE WHEN g % 10 >= 5 AND g % 3 = 0 THEN (g / 3) % 6 END,
  CASE WHEN g % 10 IN (1, 2) THEN ($4::text[])[1 + g % 5] END,
  CASE WHEN g % 7 = 0 THEN ($4::text[])[1 + g % 3] END,
  CASE WHEN g % 7 = 0 THEN 1 ELSE 0 END, 2,
  t.start - make_interval(mins => ((g::bigint * 7919) % 86400)::int), t.start
FROM generate_series(1, $1) AS g
CROSS JOIN LATERAL (SELECT $5::timestamptz
  + make_interval(mins => ((g::bigint * 104729) % 524160)::int) AS start) t
JOIN LATERAL (SELECT id FROM booking_services WHERE workspace_id = $2 ORDER BY id
  OFFSET g % $6 LIMIT 1) s ON true
"""
SQLITE_SEED = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count)
INSERT INTO bookings (id, workspace_id, service_id, bot_user_id, status, start_time, end_time,
  duration, location, source, metadata, notes, rating, cancel_reason, reschedule_reason,
  reschedule_count, version, created_at, updated_at)
SELECT n, :workspace, s.id, :bot_user + n % 400,
  CASE WHEN n % 10 IN (1, 2) THEN 'cancelled' WHEN n % 10 = 3 THEN 'no_show'
       WHEN n % 10 = 4 THEN 'inactive' ELSE 'completed' END,
  st, strftime('%Y-%m-%d %H:%M:%f000', st, '+30 minutes'), 30, '', 'api', NULL, '',
  CASE WHEN n % 10 >= 5 AND n % 3 = 0 THEN (n / 3) % 6 END,
  CASE WHEN n % 10 IN (1, 2) THEN json_extract(:reasons, '$[' || (n % 5) || ']') END,
  CASE WHEN n % 7 = 0 THEN json_extract(:reasons, '$[' || (n % 3) || ']') END,
  CASE WHEN n % 7 = 0 THEN 1 ELSE 0 END, 2,
  strftime('%Y-%m-%d %H:%M:%f000', st, '-' || ((n * 7919) % 86400) || ' minutes'), st
FROM (SELECT n, strftime('%Y-%m-%d %H:%M:%f000', :first,
        '+' || ((n * 104729) % 524160) || ' minutes') AS st FROM g) x
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM booking_services
      WHERE workspace_id = :workspace) s ON s.k = x.n % :services
"""

# The baseline: the bookings' figures of the report (by week and service: counts by status,
# ratings, reschedules, lead-time buckets), in one scan that groups each booking once by what it
# counts for; the few thousand groups are what a report is then summed from.
SCAN = """
SELECT {week} AS week, service_id, status, rating, {lead} AS lead, count(*), sum(reschedule_count)
FROM bookings WHERE workspace_id = :workspace AND start_time >= :first AND start_time < :last
GROUP BY 1, 2, 3, 4, 5
"""


def _scan_sql(sqlite: bool) -> str:
    bounds = ", ".join(str(b) for b in LEAD_BOUNDS)
    if sqlite:
        week = "date(start_time, 'weekday 0', '-6 days')"
        minutes = "((julianday(start_time) - julianday(created_at)) * 1440)"
        lead = (
            "CASE"
            + "".join(f" WHEN {minutes} < {b} THEN {i}" for i, b in enumerate(LEAD_BOUNDS))
            + f" ELSE {len(LEAD_BOUNDS)} END"
        )
    else:
        week = "date_trunc('week', start_time AT TIME ZONE 'UTC')"
        lead = f"width_bucket(extract(epoch FROM start_time - created_at) / 60, ARRAY[{bounds}]::numeric[])"
    return SCAN.format(week=week, lead=lead)


def build(url: str, count: int) -> tuple[int, date]:
    """A workspace (UTC) with `count` bookings over the year from its first Monday; the counters
    rebuilt. Its id and the year's first day."""
    seed.migrate_db(url)
    [tenant] = asyncio.run(seed.make_tenants(url, count=1, bot_users=400))
    first = (datetime.now(UTC) - timedelta(days=DAYS + 7)).date()
    first -= timedelta(days=first.weekday())
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    services = len(tenant.services)
    began = time.perf_counter()
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute(
                SQLITE_SEED,
                {
                    "count": count, "workspace": tenant.workspace_id, "services": services,
                    "bot_user": tenant.bot_users[0], "first": start.replace(tzinfo=None).isoformat(sep=" "),
                    "reasons": "[" + ", ".join(f'"{r}"' for r in REASONS) + "]",
                },
            )  # fmt: skip
    else:
        asyncio.run(_seed_pg(url, count, tenant.workspace_id, tenant.bot_users[0], start, services))
    asyncio.run(seed.analyze(url))
    log(f"seeded {count:,} bookings in {time.perf_counter() - began:.1f} s")
    return tenant.workspace_id, first


async def _seed_pg(
    url: str, count: int, workspace: int, bot_user: int, start: datetime, services: int
) -> None:
    conn = await asyncpg.connect(pg_plain(url))
    try:
        await conn.execute(PG_SEED, count, workspace, bot_user, list(REASONS), start, services)
    finally:
        await conn.close()


async def _measure(url: str, workspace_id: int, first: date) -> tuple[float, float, float, int]:
    """Seconds: rebuilding the counters, the report (median), the scan (median); report rows."""
    db = Database(url, pool_size=2)
    query = AnalyticsQuery.model_validate(
        {
            "from": first.isoformat(),
            "to": (first + timedelta(days=DAYS - 1)).isoformat(),
            "granularity": "week",
        }
    )
    now = datetime.now(UTC)
    try:
        began = time.perf_counter()
        async with db.transaction() as session:
            workspace = await session.get(Workspace, workspace_id)
            assert workspace is not None
            counted = await analytics.rebuild(session, workspace)
        rebuilt = time.perf_counter() - began
        log(f"rebuilt the counters of {counted:,} bookings in {rebuilt:.1f} s")
        reports, scans = [], []
        scan = text(_scan_sql(url.startswith("sqlite"))).bindparams(
            bindparam("first", type_=UTCDateTime()), bindparam("last", type_=UTCDateTime())
        )
        bounds = {
            "workspace": workspace_id,
            "first": datetime(first.year, first.month, first.day, tzinfo=UTC),
            "last": datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=DAYS),
        }
        rows = 0
        for _ in range(RUNS):
            began = time.perf_counter()
            async with db.session(read_only=True) as session:
                out = await analytics.report(session, workspace, query, now)
                out.model_dump_json()
            reports.append(time.perf_counter() - began)
            rows = len(out.rows)
        for _ in range(SCAN_RUNS):
            began = time.perf_counter()
            async with db.session(read_only=True) as session:
                (await session.execute(scan, bounds)).all()
            scans.append(time.perf_counter() - began)
    finally:
        await db.dispose()
    return rebuilt, median(reports), median(scans), rows


def run() -> list[Row]:
    sizes = (
        ("PostgreSQL", fresh_postgres, scaled(1_000_000, 100_000), 0.100),
        ("SQLite", fresh_sqlite, scaled(200_000, 50_000), 0.300),
    )
    log(f"workload 7: a year of analytics by week, {sizes[0][2]:,} ({sizes[1][2]:,}) bookings")
    rows: list[Row] = []
    for backend, maker, count, limit in sizes:
        with maker(f"w7_{count}") as url:
            workspace_id, first = build(url, count)
            rebuilt, report, scan, lines = asyncio.run(_measure(url, workspace_id, first))
        log(f"{backend}: report {report * 1000:.1f} ms ({lines} rows), scan {scan * 1000:.1f} ms")
        rows.append(
            compare(
                f"w7 a year of analytics by week, {count:,} bookings: {backend}",
                report * 1000,
                "ms",
                "one SQL scan of the bookings",
                scan * 1000,
                target=f"<= {limit * 1000:.0f} ms and <= 0.1 x scan",
                met=report <= limit and report * 10 <= scan,
            )
        )
        rows.append(
            compare(f"w7 rebuilding the counters, {count:,} bookings: {backend}", rebuilt, "s")
        )
    return rows
