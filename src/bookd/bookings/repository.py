"""The SQL of a booking creation over HTTP, on the driver's own connection: asyncpg's, or on
SQLite the plain sqlite3 connection inside one `Database.sqlite_job`.

A creation reads its facts in one statement (the API key and its workspace, the service, whether
the service has availability settings, the bot user, the active reminder templates, and the new
booking's id) and writes the booking with its reminders, its audit row and its event in one
statement on PostgreSQL (data-modifying CTEs) or four on SQLite. Through the ORM the same work took
eight statements and several times the CPU; `service.create_booking` keeps the ORM path for the
cases this one leaves to it (see `service.create_direct`).

The new booking's id is drawn by the read so that its event, which names it, is written by the
same statement as the booking: from the table's sequence on PostgreSQL, and on SQLite as the next
AUTOINCREMENT value, which is safe because the read runs inside `BEGIN IMMEDIATE`: no other writer
can insert a booking until this transaction ends, and a wrong guess would fail on the primary key
rather than go unnoticed.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.sqlite import aiosqlite

from bookd.kit import wakeup
from bookd.kit.db import UTCDateTime


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """The attributes of a `BookingService` that a creation reads (the names are the model's)."""

    id: int
    service_uid: str
    name: str
    description: str
    default_duration: int
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BotUserRow:
    id: int
    ns: str
    name: str | None
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    followups_opt_out: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    sequence: int
    title: str
    description: str
    days: int
    hours: int
    minutes: int


@dataclass(frozen=True, slots=True)
class NewBooking:
    """A booking about to be inserted: at its first version, never rescheduled, rated or
    cancelled (the attribute names are the `Booking` model's, for `payloads.booking`)."""

    id: int
    workspace_id: int
    service_id: int
    bot_user_id: int
    status: str
    start_time: datetime
    end_time: datetime
    duration: int
    location: str
    source: str
    metadata_json: str | None
    notes: str
    created_at: datetime
    rating: None = None
    cancel_reason: None = None
    reschedule_reason: None = None
    reschedule_count: int = 0
    version: int = 1

    @property
    def updated_at(self) -> datetime:
        return self.created_at


@dataclass(frozen=True, slots=True)
class CreationFacts:
    api_key_id: int
    last_used_at: datetime | None
    workspace_id: int
    timezone: str
    service: ServiceRow | None
    """None: no such service in the key's workspace."""
    has_availability: bool
    bot_user: BotUserRow | None
    """None: the bot user is new."""
    templates: list[TemplateRow]
    """The service's active reminder templates, by sequence."""
    booking_id: int


# Written once with `?` placeholders; PostgreSQL's are numbered.
def _numbered(sql: str) -> str:
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


# SQLite keeps UTC times as naive text in SQLAlchemy's format (kit/db.py `UTCDateTime`): the same
# conversions, taken from the type itself, so raw rows read and sort like the ORM's.
_SQLITE = aiosqlite.dialect()
_SQLITE_TIME = UTCDateTime().dialect_impl(_SQLITE)
_to_sqlite: Callable[[Any], Any] = _SQLITE_TIME.bind_processor(_SQLITE)  # type: ignore[assignment]
_from_sqlite: Callable[[Any], Any] = _SQLITE_TIME.result_processor(_SQLITE, None)  # type: ignore[assignment]


def _same(value: Any) -> Any:
    return value


_FACTS = """
{next_id}
SELECT k.id, k.last_used_at, w.id, w.timezone,
  s.id, s.service_uid, s.name, s.description, s.default_duration, s.status, s.created_at,
  s.updated_at,
  EXISTS (SELECT 1 FROM service_availability a WHERE a.service_id = s.id),
  u.id, u.name, u.email, u.phone, u.timezone, u.locale, u.followups_opt_out, u.created_at,
  u.updated_at,
  n.id,
  t.id, t.sequence, t.title, t.description, t.days, t.hours, t.minutes
FROM n, api_keys k
JOIN workspaces w ON w.id = k.workspace_id
LEFT JOIN booking_services s ON s.workspace_id = k.workspace_id AND s.{service_column} = ?
LEFT JOIN bot_users u ON u.workspace_id = k.workspace_id AND u.ns = ?
LEFT JOIN service_templates t
  ON t.service_id = s.id AND t.kind = 'reminder' AND t.status = 'active'
WHERE k.key_hash = ? AND k.revoked_at IS NULL
ORDER BY t.sequence
"""
# MATERIALIZED: evaluated once, not once per template row.
_PG_NEXT_ID = (
    "WITH n AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('bookings', 'id')) AS id)"
)
# AUTOINCREMENT's own rule: one more than the largest id ever used.
_SQLITE_NEXT_ID = """WITH n AS (SELECT max(
  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'bookings'), 0),
  coalesce((SELECT max(id) FROM bookings), 0)) + 1 AS id)"""

FACTS_SQL = {
    (True, column): _FACTS.format(next_id=_SQLITE_NEXT_ID, service_column=column)
    for column in ("service_uid", "id")
} | {
    (False, column): _numbered(_FACTS.format(next_id=_PG_NEXT_ID, service_column=column))
    for column in ("service_uid", "id")
}


def _facts_query(
    *, sqlite: bool, key_hash: str, service_uid: str | None, service_id: int | None, ns: str
) -> tuple[str, tuple[Any, ...]]:
    column, value = ("service_uid", service_uid) if service_uid is not None else ("id", service_id)
    return FACTS_SQL[(sqlite, column)], (value, ns, key_hash)


async def read_facts_pg(
    conn: Any, *, key_hash: str, service_uid: str | None, service_id: int | None, ns: str
) -> CreationFacts | None:
    """Everything a creation reads; None if the API key is unknown or revoked."""
    sql, params = _facts_query(
        sqlite=False, key_hash=key_hash, service_uid=service_uid, service_id=service_id, ns=ns
    )
    return _facts(await conn.fetch(sql, *params), ns, _same)


def read_facts_sqlite(
    db: sqlite3.Connection,
    *,
    key_hash: str,
    service_uid: str | None,
    service_id: int | None,
    ns: str,
) -> CreationFacts | None:
    """`read_facts_pg` on SQLite, on the plain connection (see `Database.sqlite_job`)."""
    sql, params = _facts_query(
        sqlite=True, key_hash=key_hash, service_uid=service_uid, service_id=service_id, ns=ns
    )
    return _facts(db.execute(sql, params).fetchall(), ns, _from_sqlite)


def _facts(rows: Sequence[Any], ns: str, time: Callable[[Any], Any]) -> CreationFacts | None:
    if not rows:
        return None
    first = rows[0]
    service = (
        None
        if first[4] is None
        else ServiceRow(
            id=first[4],
            service_uid=first[5],
            name=first[6],
            description=first[7],
            default_duration=first[8],
            status=first[9],
            created_at=time(first[10]),
            updated_at=time(first[11]),
        )
    )
    bot_user = (
        None
        if first[13] is None
        else BotUserRow(
            id=first[13],
            ns=ns,
            name=first[14],
            email=first[15],
            phone=first[16],
            timezone=first[17],
            locale=first[18],
            followups_opt_out=bool(first[19]),
            created_at=time(first[20]),
            updated_at=time(first[21]),
        )
    )
    return CreationFacts(
        api_key_id=first[0],
        last_used_at=time(first[1]),
        workspace_id=first[2],
        timezone=first[3],
        service=service,
        has_availability=bool(first[12]),
        bot_user=bot_user,
        templates=[TemplateRow(*row[23:30]) for row in rows if row[23] is not None],
        booking_id=first[22],
    )


@dataclass(frozen=True, slots=True)
class Writes:
    """What a creation writes: the booking, and (column names as keys) the rows `service` writes
    on the ORM path for its reminders, its log and its event; `notify`: wake the schedulers of
    other processes (PostgreSQL; on SQLite there are none)."""

    booking: NewBooking
    messages: list[dict[str, Any]]
    log: dict[str, Any]
    event: dict[str, Any]
    notify: bool


_BOOKING_COLUMNS = (
    "id, workspace_id, service_id, bot_user_id, status, start_time, end_time, duration, location, "
    "source, metadata, notes, reschedule_count, version, created_at, updated_at"
)
_MESSAGE_COLUMNS = (
    "booking_id, template_id, kind, sequence, title, description, scheduled_at, status, sent_at, "
    "skip_reason, created_at"
)
_LOG_COLUMNS = "booking_id, action, actor, old_status, new_status, details, created_at"
_EVENT_COLUMNS = "id, workspace_id, type, booking_id, occurred_at, data, relayed"

# One statement: the reminders, the log row and the event refer to the booking inserted beside
# them; PostgreSQL checks their foreign keys at the end of the statement, when it is there. The
# wake-up NOTIFY (when asked for) is part of it too, so it goes out when the booking commits.
_PG_WRITE = _numbered(f"""
WITH booking AS (
  INSERT INTO bookings ({_BOOKING_COLUMNS})
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?)
), messages AS (
  INSERT INTO booking_messages ({_MESSAGE_COLUMNS})
  SELECT ?::int, template_id, ?::text, sequence, title, description, scheduled_at, status, NULL,
    skip_reason, ?::timestamptz
  FROM unnest(?::int[], ?::int[], ?::text[], ?::text[], ?::timestamptz[], ?::text[], ?::text[])
    AS m(template_id, sequence, title, description, scheduled_at, status, skip_reason)
), log AS (
  INSERT INTO booking_logs ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
), wake AS MATERIALIZED (
  SELECT pg_notify('{wakeup.CHANNEL}', '') WHERE ?::boolean
)
INSERT INTO events ({_EVENT_COLUMNS})
SELECT ?::text, ?::int, ?::text, ?::int, ?::timestamptz, ?::text, false
FROM (VALUES (1)) AS one LEFT JOIN wake ON true
""")
_SQLITE_BOOKING = (
    f"INSERT INTO bookings ({_BOOKING_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?)"
)
_SQLITE_MESSAGE = (
    f"INSERT INTO booking_messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_LOG = f"INSERT INTO booking_logs ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SQLITE_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0)"


def write_sqlite(db: sqlite3.Connection, w: Writes) -> None:
    b, t = w.booking, _to_sqlite
    db.execute(
        _SQLITE_BOOKING,
        (
            b.id,
            b.workspace_id,
            b.service_id,
            b.bot_user_id,
            b.status,
            t(b.start_time),
            t(b.end_time),
            b.duration,
            b.location,
            b.source,
            b.metadata_json,
            b.notes,
            t(b.created_at),
            t(b.updated_at),
        ),
    )
    db.executemany(
        _SQLITE_MESSAGE,
        [
            (
                m["booking_id"],
                m["template_id"],
                m["kind"],
                m["sequence"],
                m["title"],
                m["description"],
                t(m["scheduled_at"]),
                m["status"],
                t(m["sent_at"]),
                m["skip_reason"],
                t(m["created_at"]),
            )
            for m in w.messages
        ],
    )
    db.execute(_SQLITE_LOG, _log_values(w.log, t))
    db.execute(_SQLITE_EVENT, _event_values(w.event, t))


async def write_pg(conn: Any, w: Writes) -> None:
    b = w.booking
    # The statement fixes what every reminder row of a creation shares.
    assert all(
        m["kind"] == "reminder" and m["sent_at"] is None and m["created_at"] == b.created_at
        for m in w.messages
    ), "a creation's messages are new reminders"
    messages = w.messages
    await conn.execute(
        _PG_WRITE,
        b.id,
        b.workspace_id,
        b.service_id,
        b.bot_user_id,
        b.status,
        b.start_time,
        b.end_time,
        b.duration,
        b.location,
        b.source,
        b.metadata_json,
        b.notes,
        b.created_at,
        b.updated_at,
        b.id,
        "reminder",
        b.created_at,
        [m["template_id"] for m in messages],
        [m["sequence"] for m in messages],
        [m["title"] for m in messages],
        [m["description"] for m in messages],
        [m["scheduled_at"] for m in messages],
        [m["status"] for m in messages],
        [m["skip_reason"] for m in messages],
        *_log_values(w.log, _same),
        w.notify,
        *_event_values(w.event, _same),
    )


def _log_values(log: dict[str, Any], t: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        log["booking_id"],
        log["action"],
        log["actor"],
        log["old_status"],
        log["new_status"],
        log["details"],
        t(log["created_at"]),
    )


def _event_values(event: dict[str, Any], t: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        event["id"],
        event["workspace_id"],
        event["type"],
        event["booking_id"],
        t(event["occurred_at"]),
        event["data"],
    )
