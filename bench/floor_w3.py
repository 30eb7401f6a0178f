"""Workload 3's fair floor: a bare Starlette endpoint that writes, for the same `POST /v1/bookings`
body, the rows a booking creation of bookd writes, in one transaction, into a database made by
bookd's migrations; served by uvicorn the way `bench/bare.py` is. Run as
`python -m bench.floor_w3 URL PORT` (URL `postgresql://...` or `sqlite:///path`).

Per request, as bookd: the API key read by its hash (no cache: bookd reads it on every request);
the service named by `service_uid` with its active reminder templates, and whether the workspace
has active triggers, in one statement; then one transaction: the bot user's upsert by (workspace,
ns), the booking, its reminders (one multi-row insert), the audit row, the BOOKING_CREATED event
(the booking, service and bot user as bookd's payload has them, already relayed) with a delivery
per matching active trigger, and the analytics counters (one upsert of the `booking_days` rows
the creation moves, the columns it moves only). The reminder times, lead-time bucket and counter
shard are bookd's own pure functions, so the rows are the ones bookd would write.

Left out: the availability settings (the bench services have none; bookd reads that in the same
statement as the service), idempotency keys, customer tokens, and the key's `last_used_at`, which
bookd writes at most once a minute.

PostgreSQL: one asyncpg pool of 10, as bare.py; statements prepared once per connection by
asyncpg's statement cache. SQLite: one `sqlite3` connection tuned as bookd tunes its own,
statements prepared once by sqlite3's statement cache, each creation one `BEGIN IMMEDIATE`
transaction run whole in one worker thread (`Lite`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bookd.bookings.counts import SHARDS, lead_bucket
from bookd.bookings.policy import reminder_time

KEY = """
SELECT k.id, w.id, w.timezone FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""
SERVICE = """
SELECT s.id, s.service_uid, s.name, s.description, s.default_duration, s.status,
  s.customer_can_cancel, s.customer_can_reschedule, s.customer_cutoff_minutes,
  s.created_at, s.updated_at,
  t.id, t.sequence, t.title, t.description, t.days, t.hours, t.minutes,
  EXISTS (SELECT 1 FROM triggers g WHERE g.workspace_id = $1 AND g.status = 'active')
FROM booking_services s
LEFT JOIN service_templates t
  ON t.service_id = s.id AND t.kind = 'reminder' AND t.status = 'active'
WHERE s.workspace_id = $1 AND s.service_uid = $2
ORDER BY t.sequence
"""
TRIGGERS = """
SELECT id, event_types, service_uids FROM triggers WHERE workspace_id = $1 AND status = 'active'
"""
BOT_USER = """
INSERT INTO bot_users (workspace_id, ns, followups_opt_out, created_at, updated_at)
VALUES ($1, $2, false, $3, $3)
ON CONFLICT (workspace_id, ns) DO UPDATE SET ns = excluded.ns
RETURNING id, name, email, phone, timezone, locale, followups_opt_out, created_at, updated_at
"""
BOOKING = """
INSERT INTO bookings (workspace_id, service_id, bot_user_id, status, start_time, end_time,
  duration, location, source, metadata, notes, reschedule_count, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 1, $12, $12)
RETURNING id
"""
LOG = """
INSERT INTO booking_logs (booking_id, action, actor, old_status, new_status, details, created_at)
VALUES ($1, 'create', $2, NULL, $3, '{}', $4)
"""
EVENT = """
INSERT INTO events (id, workspace_id, type, booking_id, occurred_at, data, relayed)
VALUES ($1, $2, 'BOOKING_CREATED', $3, $4, $5, true)
RETURNING seq
"""
STATUSES = ("pending", "confirmed")
PASSED = "scheduled time already passed"


@functools.cache
def messages_sql(count: int) -> str:
    """One INSERT of `count` reminders: $1 the booking, $2 the time, then 7 values a reminder."""
    rows = ", ".join(
        f"($1, ${n}, 'reminder', ${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5}, NULL, "
        f"${n + 6}, $2)"
        for n in range(3, 3 + 7 * count, 7)
    )
    return (
        "INSERT INTO booking_messages (booking_id, template_id, kind, sequence, title, "
        "description, scheduled_at, status, sent_at, skip_reason, created_at) VALUES " + rows
    )


@functools.cache
def deliveries_sql(count: int) -> str:
    """One INSERT of `count` deliveries: $1 workspace, $2 event seq, $3 the time, then triggers."""
    rows = ", ".join(f"($1, ${n}, $2, 'pending', 0, $3, $3, $3)" for n in range(4, 4 + count))
    return (
        "INSERT INTO deliveries (workspace_id, trigger_id, event_seq, status, attempts, "
        "next_attempt_at, created_at, updated_at) VALUES " + rows
    )


@functools.cache
def counters_sql(columns: tuple[str, ...], count: int) -> str:
    """Add to `count` `booking_days` rows (made at 0 where missing) the values of `columns`; the
    rows in key order, so that concurrent creations lock them in one order (as bookd's
    `add_counts`)."""
    width = 4 + len(columns)
    rows = ", ".join(
        "(" + ", ".join(f"${n + i}" for i in range(width)) + ")"
        for n in range(1, 1 + width * count, width)
    )
    added = ", ".join(f"{c} = booking_days.{c} + excluded.{c}" for c in columns)
    return (
        f"INSERT INTO booking_days (workspace_id, service_id, day, shard, {', '.join(columns)}) "
        f"VALUES {rows} ON CONFLICT (workspace_id, day, service_id, shard) DO UPDATE SET {added}"
    )


def iso_z(value: datetime | str) -> str:
    """A time as bookd's payloads write it: UTC, to the second, with a `Z` (SQLite hands back
    bookd's naive UTC text)."""
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class Store(Protocol):
    """The database as the endpoint uses it; SQL written with `$n` parameters."""

    def time(self, value: datetime) -> Any: ...

    def day(self, value: date) -> Any: ...

    async def one(self, sql: str, *args: Any) -> Sequence[Any] | None: ...

    async def all(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]: ...

    async def run(self, sql: str, *args: Any) -> None: ...

    def transaction(self) -> Any: ...


class Postgres:
    """A connection of the pool, whose statements asyncpg prepares once and reuses."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.one = conn.fetchrow
        self.all = conn.fetch
        self.transaction = conn.transaction

    def time(self, value: datetime) -> Any:
        return value

    def day(self, value: date) -> Any:
        return value

    async def run(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)


@functools.cache
def numbered(sql: str) -> str:
    """`$n` as SQLite spells a numbered parameter, `?n`."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


class Lite:
    """One connection, used by one worker thread: each creation runs there whole, one at a time
    (SQLite has one writer anyway), while the event loop goes on with HTTP. In the event loop
    itself a commit's or checkpoint's wait for the disk stalled every connection, and the
    sqlite3 calls could not overlap the HTTP work (they release the GIL)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # As bookd's `kit.db._tune_sqlite`.
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.worker = ThreadPoolExecutor(max_workers=1)

    def time(self, value: datetime) -> Any:
        # bookd's SQLite columns hold naive UTC text (`kit.db.UTCDateTime`, as SQLAlchemy writes it).
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def day(self, value: date) -> Any:
        return value.isoformat()

    async def one(self, sql: str, *args: Any) -> Sequence[Any] | None:
        rows = self.conn.execute(numbered(sql), args).fetchall()
        return rows[0] if rows else None

    async def all(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return self.conn.execute(numbered(sql), args).fetchall()

    async def run(self, sql: str, *args: Any) -> None:
        self.conn.execute(numbered(sql), args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.worker.shutdown()
        self.conn.close()


def whole(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run `coroutine` to its end in one step, without an event loop: `create` on the SQLite store
    awaits nothing that waits (its methods are plain calls)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(dict[str, Any], done.value)
    coroutine.close()
    raise RuntimeError("a creation on SQLite waited for something")


def parse(body: Any, now: datetime) -> dict[str, Any]:
    """What the request asks for, or 422 (the fields bookd's `BookingCreate` reads for this)."""
    if not isinstance(body, dict):
        raise Refused(422, "a JSON object is required")
    ns, uid, start_text = body.get("bot_user_ns"), body.get("service_uid"), body.get("start_time")
    if not (isinstance(ns, str) and isinstance(uid, str) and isinstance(start_text, str)):
        raise Refused(422, "bot_user_ns, service_uid and start_time are required")
    status = body.get("status", "pending")
    if status not in STATUSES:
        raise Refused(422, "status is pending or confirmed")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise Refused(422, "start_time is not ISO 8601") from None
    if start.tzinfo is None:
        raise Refused(422, "start_time needs an offset")
    start = start.astimezone(UTC).replace(microsecond=0)
    if start <= now:
        raise Refused(422, "start_time must be in the future")
    metadata = body.get("metadata")
    if metadata is not None:
        try:
            json.loads(metadata)  # a JSON document given as a string, as bookd checks
        except (TypeError, ValueError):
            raise Refused(422, "metadata must be a JSON document given as a string") from None
    return {
        "ns": ns,
        "uid": uid,
        "start": start,
        "status": status,
        "duration": body.get("duration"),
        "location": body.get("location", ""),
        "source": body.get("source", ""),
        "metadata": metadata,
        "notes": body.get("notes", ""),
    }


def wants(trigger: Sequence[Any], service_uid: str) -> bool:
    types = json.loads(trigger[1])
    if "*" not in types and "BOOKING_CREATED" not in types:
        return False
    return trigger[2] is None or service_uid in json.loads(trigger[2])


async def create(db: Store, token: str, body: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    key = await db.one(KEY, hashlib.sha256(token.encode()).hexdigest())
    if key is None:
        raise Refused(401, "the API key is not valid")
    key_id, workspace_id, timezone = key
    tz = ZoneInfo(timezone)
    asked = parse(body, now)
    rows = await db.all(SERVICE, workspace_id, asked["uid"])
    if not rows:
        raise Refused(404, f"no booking service {asked['uid']!r}")
    service = rows[0]
    service_id, default_duration, has_triggers = service[0], service[4], service[18]
    if service[5] != "active":
        raise Refused(409, "the booking service is inactive")
    start, status = asked["start"], asked["status"]
    duration = asked["duration"] or default_duration
    end = start + timedelta(minutes=duration)
    actor = f"api_key:{key_id}"
    reminders = []
    for row in rows:
        if row[11] is None:
            continue
        at = reminder_time(start, days=row[15], hours=row[16], minutes=row[17], tz=tz)
        due = at >= now  # as bookd's `policy.initial_status`
        state, reason = ("pending", None) if due else ("skipped", PASSED)
        reminders.append((row[11], row[12], row[13], row[14], at, state, reason))
    async with db.transaction():
        user = await db.one(BOT_USER, workspace_id, asked["ns"], db.time(now))
        assert user is not None
        booking = await db.one(
            BOOKING,
            workspace_id,
            service_id,
            user[0],
            status,
            db.time(start),
            db.time(end),
            duration,
            asked["location"],
            asked["source"],
            asked["metadata"],
            asked["notes"],
            db.time(now),
        )
        assert booking is not None
        booking_id = booking[0]
        if reminders:
            values = [db.time(v) if isinstance(v, datetime) else v for r in reminders for v in r]
            await db.run(messages_sql(len(reminders)), booking_id, db.time(now), *values)
        await db.run(LOG, booking_id, actor, status, db.time(now))
        data = payload(booking_id, asked, service, user, end, duration, now, actor)
        event_id = "evt_" + os.urandom(16).hex()
        seq = await db.one(EVENT, event_id, workspace_id, booking_id, db.time(now), data)
        if has_triggers:
            triggers = [t[0] for t in await db.all(TRIGGERS, workspace_id) if wants(t, service[1])]
            if triggers and seq is not None:
                sql = deliveries_sql(len(triggers))
                await db.run(sql, workspace_id, seq[0], db.time(now), *triggers)
        await count(db, workspace_id, service_id, booking_id, status, start, now, tz, reminders)
    return {
        "id": booking_id,
        "service_uid": asked["uid"],
        "status": status,
        "start_time": iso_z(start),
    }


async def count(
    db: Store,
    workspace_id: int,
    service_id: int,
    booking_id: int,
    status: str,
    start: datetime,
    now: datetime,
    tz: ZoneInfo,
    reminders: list[tuple[Any, ...]],
) -> None:
    """The counter rows a new booking moves: created on the local day it was made; its status and
    lead-time bucket on the day it starts; a reminder made already past on the day it was due."""
    days: dict[date, dict[str, int]] = {}
    start_day = start.astimezone(tz).date()
    days.setdefault(now.astimezone(tz).date(), {})["created"] = 1
    moved = days.setdefault(start_day, {})
    moved[status] = moved.get(status, 0) + 1
    moved[f"lead_{lead_bucket(now, start)}"] = 1
    for reminder in reminders:
        if reminder[5] == "skipped":
            day = days.setdefault(reminder[4].astimezone(tz).date(), {})
            day["reminders_skipped"] = day.get("reminders_skipped", 0) + 1
    columns = tuple(sorted({c for moves in days.values() for c in moves}))
    shard = booking_id % SHARDS
    values = [
        v
        for day in sorted(days)
        for v in (
            workspace_id,
            service_id,
            db.day(day),
            shard,
            *(days[day].get(c, 0) for c in columns),
        )
    ]
    await db.run(counters_sql(columns, len(days)), *values)


def payload(
    booking_id: int,
    asked: dict[str, Any],
    service: Sequence[Any],
    user: Sequence[Any],
    end: datetime,
    duration: int,
    now: datetime,
    actor: str,
) -> str:
    """The event's text: the booking, its service and bot user as bookd's API shows them."""
    made = iso_z(now)
    data = {
        "booking": {
            "id": booking_id,
            "service_uid": service[1],
            "service_id": service[0],
            "bot_user_ns": asked["ns"],
            "status": asked["status"],
            "start_time": iso_z(asked["start"]),
            "end_time": iso_z(end),
            "duration": duration,
            "location": asked["location"],
            "source": asked["source"],
            "metadata": asked["metadata"],
            "notes": asked["notes"],
            "rating": None,
            "cancel_reason": None,
            "reschedule_reason": None,
            "reschedule_count": 0,
            "version": 1,
            "created_at": made,
            "updated_at": made,
        },
        "service": {
            "id": service[0],
            "service_uid": service[1],
            "name": service[2],
            "description": service[3],
            "default_duration": service[4],
            "status": service[5],
            "customer_can_cancel": bool(service[6]),
            "customer_can_reschedule": bool(service[7]),
            "customer_cutoff_minutes": service[8],
            "created_at": iso_z(service[9]),
            "updated_at": iso_z(service[10]),
        },
        "bot_user": {
            "bot_user_ns": asked["ns"],
            "name": user[1],
            "email": user[2],
            "phone": user[3],
            "timezone": user[4],
            "locale": user[5],
            "followups_opt_out": bool(user[6]),
            "created_at": iso_z(user[7]),
            "updated_at": iso_z(user[8]),
        },
        "ics_url": f"/v1/bookings/{booking_id}.ics",
        "actor": actor,
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def make_app(url: str) -> Starlette:
    state: dict[str, Any] = {}
    sqlite = url.startswith("sqlite")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        if sqlite:
            state["lite"] = Lite(url.removeprefix("sqlite:///"))
            yield
            state["lite"].close()
            return
        state["pool"] = await asyncpg.create_pool(url, min_size=10, max_size=10)
        yield
        await state["pool"].close()

    async def run(token: str, body: Any) -> dict[str, Any]:
        if sqlite:
            lite = state["lite"]
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(lite.worker, whole, create(lite, token, body))
        async with state["pool"].acquire() as conn:
            return await create(Postgres(conn), token, body)

    async def endpoint(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return JSONResponse({"error": "an API key is required"}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=422)
        try:
            answer = await run(token.strip(), body)
        except Refused as refused:
            return JSONResponse({"error": refused.message}, status_code=refused.status)
        return JSONResponse(answer, status_code=201)

    return Starlette(routes=[Route("/v1/bookings", endpoint, methods=["POST"])], lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="info")
