"""What every workload shares: settings, scratch databases, processes, polling and the result rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
BOOKD = str(BIN / "bookd")
ADMIN_URL = os.environ.get(
    "BOOKD_BENCH_POSTGRES_URL",
    os.environ.get("BOOKD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
QUICK = os.environ.get("BOOKD_BENCH_QUICK", "").lower() in ("1", "true", "yes")


def scaled(full: int, quick: int) -> int:
    """`full` normally, `quick` under BOOKD_BENCH_QUICK=1."""
    return quick if QUICK else full


@dataclass
class Row:
    """One line of the table and of latest.json."""

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "baseline_value", "ratio"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 4 if key == "ratio" else 1)
        return data


def compare(
    name: str,
    value: float,
    unit: str,
    baseline_name: str | None = None,
    baseline_value: float | None = None,
    *,
    target: str | None = None,
    met: bool | None = None,
) -> Row:
    ratio = value / baseline_value if baseline_value else None
    return Row(name, value, unit, baseline_name, baseline_value, ratio, target, met)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases ---------------------------------------------------------------------------------


def pg_plain(url: str) -> str:
    """The URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_plain(ADMIN_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_up() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(pg_plain(ADMIN_URL), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@contextlib.contextmanager
def fresh_postgres(label: str, *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one measurement, dropped afterwards: empty, or a copy of the
    database of the `template` URL (seeded once, copied for each measurement)."""
    name = f"bookd_bench_{label}_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if template is None:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    else:
        source = make_url(template).database
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def fresh_sqlite(label: str, *, template: str | None = None) -> Iterator[str]:
    """A new SQLite file for one measurement: empty, or a copy of the `template` URL's file."""
    with tempfile.TemporaryDirectory(prefix=f"bookd_bench_{label}_") as folder:
        path = Path(folder) / "bookd.db"
        if template is not None:
            with sqlite3.connect(sqlite_path(template)) as source, sqlite3.connect(path) as copy:
                source.backup(copy)
        yield f"sqlite:///{path}"


def sqlite_path(url: str) -> str:
    database = make_url(url).database
    assert database is not None
    return database


async def pg_fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(pg_plain(url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def server_facts() -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        conn = await asyncpg.connect(pg_plain(ADMIN_URL))
        try:
            return {
                "postgresql_version": await conn.fetchval("SHOW server_version"),
                "postgresql_settings": {
                    name: await conn.fetchval(f"SHOW {name}")
                    for name in (
                        "shared_buffers",
                        "synchronous_commit",
                        "fsync",
                        "max_connections",
                    )
                },
            }
        finally:
            await conn.close()

    return asyncio.run(fetch())


class Counter:
    """Reads how many events are committed so far, cheaply, from outside the measured process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._pg: asyncpg.Connection | None = None
        self._lite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.sqlite:
            self._lite = sqlite3.connect(sqlite_path(self.url), timeout=30)
        else:
            self._pg = await asyncpg.connect(pg_plain(self.url))

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._lite is not None:
            self._lite.close()

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return [tuple(r) for r in await self._pg.fetch(sql, *args)]
        assert self._lite is not None
        sql = sql.replace("$1", "?")
        return self._lite.execute(sql, args).fetchall()

    async def value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None


async def watch_events(
    url: str, total: int, *, give_up_after: float, proc: subprocess.Popen[bytes] | None = None
) -> tuple[float, float]:
    """Poll until `total` events are committed; the wall times of the first and last seen.

    The outbox's `seq` only grows and only one process writes events here, so `max(seq)` is
    the number committed, read off an index (a count would compete for the CPU). Even that read
    costs milliseconds while batches are being written (it steps over their rows not yet
    committed), so between the first event and the last the poll thins out: every 20 ms until the
    first is seen, then a quarter of the time the rate so far says is left (at most half a
    second, at least 20 ms), so that both ends are seen within 20 ms and the watcher takes next to
    no CPU from the process it measures.
    """
    counter = Counter(url)
    await counter.open()
    first = last = None
    deadline = time.monotonic() + give_up_after
    try:
        while True:
            seen = await counter.value("SELECT coalesce(max(seq), 0) FROM events")
            now = time.perf_counter()
            if seen and first is None:
                first = now
            if seen >= total:
                exact = await counter.value("SELECT count(*) FROM events")
                if exact >= total:
                    last = now
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {seen} of {total} events after {give_up_after:.0f} s")
            if proc is not None and proc.poll() is not None and proc.returncode != 0:
                raise RuntimeError(f"the measured process exited with {proc.returncode}")
            pause = 0.02
            if first is not None and seen:
                left = (total - seen) * (now - first) / seen
                pause = min(max(0.02, left / 4), 0.5)
            await asyncio.sleep(pause)
    finally:
        await counter.close()
    assert first is not None and last is not None
    return first, last


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    args: list[str], *, env: dict[str, str] | None = None, log_name: str | None = None
) -> subprocess.Popen[bytes]:
    out: Any = subprocess.DEVNULL
    if log_name is not None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = (RESULTS / f"{log_name}.log").open("wb")
    return subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_http(port: int, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
