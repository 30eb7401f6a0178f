"""Workload 3: booking creation over HTTP. `bookd serve --no-worker` (one process) under 32 and 64
concurrent connections from a separate load process (`wrk` with bench/load.lua, or bench/loadgen.py
when wrk is missing): creates per second, p50, p99. As in a chatbot, most bookings are a bot
user's first: 80% of the requests name a bot user never seen before, the rest one of 500 known
ones; a second run at 32 connections names known bot users only. Baselines, served by uvicorn the
same way: bench/bare.py, a bare Starlette + asyncpg endpoint parsing the same JSON and doing one
INSERT; and the fair floor of each database, bench/floor_w3.py, a bare Starlette endpoint writing
the rows a creation of bookd writes (bot user, booking, reminders, audit row, event, counters) in
one transaction, with asyncpg on PostgreSQL and `sqlite3` on SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import seed
from bench.common import (
    BOOKD,
    Row,
    compare,
    free_port,
    fresh_postgres,
    fresh_sqlite,
    log,
    pg_fetchval,
    pg_plain,
    scaled,
    sqlite_path,
    start,
    stop,
    wait_http,
)

LUA = Path(__file__).resolve().parent / "load.lua"
USERS = 500
NEW_SHARE = 0.8


@dataclass
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def hit(port: int, connections: int, seconds: int, api_key: str, new_share: float) -> Load:
    env = {"BENCH_API_KEY": api_key, "BENCH_USERS": str(USERS), "BENCH_NEW_SHARE": str(new_share)}
    url = f"http://127.0.0.1:{port}"
    if load_tool() == "wrk":
        args = [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(LUA),
            url,
        ]
    else:
        args = [sys.executable, "-m", "bench.loadgen", url, str(connections), str(seconds)]
    done = subprocess.run(
        args,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    data = json.loads(line.removeprefix("BENCH "))
    return Load(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=data["status_errors"] + data["socket_errors"],
    )


# The runs of each server: (connections, share of new bot users).
RUNS = ((32, NEW_SHARE), (64, NEW_SHARE), (32, 0.0))


def serve(
    url: str, args: list[str], label: str, api_key: str, seconds: int
) -> dict[tuple[int, float], Load]:
    port = free_port()
    proc = start(
        [*args, str(port)] if args[0] != BOOKD else [*args, "--port", str(port)],
        env={"BOOKD_DATABASE_URL": url},
        log_name=label,
    )
    results: dict[tuple[int, float], Load] = {}
    try:
        wait_http(port)
        hit(port, 32, 3, api_key, NEW_SHARE)  # warm up: connections, prepared statements, caches
        for connections, new_share in RUNS:
            results[connections, new_share] = result = hit(
                port, connections, seconds, api_key, new_share
            )
            log(
                f"{label} c={connections} new={new_share:.0%}: {result.rate:,.0f}/s "
                f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms max {result.max_ms:.0f} ms "
                f"errors {result.errors}"
            )
            if result.errors:
                log(f"{label} c={connections}: {result.errors} requests failed (see {label}.log)")
    finally:
        stop(proc)
    return results


def _tenant(url: str) -> str:
    seed.migrate_db(url)
    return asyncio.run(seed.make_tenants(url, count=1, bot_users=USERS))[0].api_key


# What a creation writes, counted after a server's runs: bookd's and the floor's databases should
# hold the same rows for the same number of creations.
WRITTEN = {
    "bot users": "SELECT count(*) FROM bot_users",
    "bookings": "SELECT count(*) FROM bookings",
    "reminders": "SELECT count(*) FROM booking_messages",
    "audit rows": "SELECT count(*) FROM booking_logs",
    "events": "SELECT count(*) FROM events",
    "deliveries": "SELECT count(*) FROM deliveries",
    "counted": "SELECT coalesce(sum(created), 0) FROM booking_days",
    "counter rows": "SELECT count(*) FROM booking_days",
}


def _written(url: str, label: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            found = [conn.execute(sql).fetchone()[0] for sql in WRITTEN.values()]
    else:
        found = [asyncio.run(pg_fetchval(url, sql)) for sql in WRITTEN.values()]
    counted = ", ".join(f"{n} {name}" for name, n in zip(WRITTEN, found, strict=True))
    log(f"{label} wrote: {counted}")


def run() -> list[Row]:
    seconds = scaled(20, 5)
    log(f"workload 3: HTTP creates, {seconds} s per run, load from {load_tool()}")
    bookd_args = [BOOKD, "serve", "--no-worker", "--host", "127.0.0.1"]
    with fresh_postgres("w3_bare") as url:
        key = _tenant(url)
        bare = serve(
            url, [sys.executable, "-m", "bench.bare", pg_plain(url)], "w3_bare", key, seconds
        )
    floor_args = [sys.executable, "-m", "bench.floor_w3"]
    with fresh_postgres("w3_floor") as url:
        key = _tenant(url)
        floor_pg = serve(url, [*floor_args, pg_plain(url)], "w3_floor_pg", key, seconds)
        _written(url, "w3_floor_pg")
    with fresh_sqlite("w3_floor") as url:
        key = _tenant(url)
        floor_lite = serve(url, [*floor_args, url], "w3_floor_sqlite", key, seconds)
        _written(url, "w3_floor_sqlite")
    with fresh_postgres("w3_bookd") as url:
        key = _tenant(url)
        pg = serve(url, bookd_args, "w3_bookd_pg", key, seconds)
        _written(url, "w3_bookd_pg")
    with fresh_sqlite("w3_bookd") as url:
        key = _tenant(url)
        lite = serve(url, bookd_args, "w3_bookd_sqlite", key, seconds)
        _written(url, "w3_bookd_sqlite")

    tool = load_tool()
    baseline = f"bare Starlette + asyncpg INSERT ({tool})"
    rows: list[Row] = []
    for name, runs, floor, driver in (
        ("PostgreSQL", pg, floor_pg, "asyncpg"),
        ("SQLite", lite, floor_lite, "sqlite3"),
    ):
        floor_name = f"fair floor: the same rows by hand, Starlette + {driver}"
        for (c, new_share), result in runs.items():
            who = f"{new_share:.0%} new bot users" if new_share else "known bot users only"
            rows.append(
                compare(
                    f"w3 creates/s, {c} connections, {who}: bookd serve, {name}",
                    result.rate,
                    "req/s",
                    baseline,
                    bare[c, new_share].rate,
                    target=">= 400 req/s" if c == 32 else None,
                    met=result.rate >= 400 if c == 32 else None,
                )
            )
            rows.append(
                compare(
                    f"w3 p99 latency, {c} connections, {who}: bookd serve, {name}",
                    result.p99_ms,
                    "ms",
                    "bare Starlette + asyncpg INSERT",
                    bare[c, new_share].p99_ms,
                    target="<= 250 ms" if c == 64 else None,
                    met=result.p99_ms <= 250 if c == 64 else None,
                )
            )
            rows.append(
                compare(
                    f"w3 creates/s, {c} connections, {who}: bookd serve, {name}",
                    result.rate,
                    "req/s",
                    f"{floor_name} ({tool})",
                    floor[c, new_share].rate,
                )
            )
            rows.append(
                compare(
                    f"w3 p99 latency, {c} connections, {who}: bookd serve, {name}",
                    result.p99_ms,
                    "ms",
                    floor_name,
                    floor[c, new_share].p99_ms,
                )
            )
    return rows
