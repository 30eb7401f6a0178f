"""Seed data: tenants through bookd's own service layer, then bookings and their reminders in bulk.

The workspaces, services, templates and API keys are made by bookd's services (a handful of rows);
the many bookings and their reminder rows are written in bulk (COPY on PostgreSQL, `executemany`
on SQLite) in exactly the shape bookd writes them: the same columns, the reminder times computed by
bookd's own `policy.reminder_time`, earlier reminders already sent, later ones still pending.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.common import pg_plain, sqlite_path
from bookd import migrate
from bookd.bookings import policy
from bookd.catalog import service as catalog
from bookd.catalog.schemas import ServiceCreate, TemplateCreate
from bookd.kit.db import Database
from bookd.workspaces import service as workspaces

TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
DURATIONS = [30, 45, 60]
# (days, hours, minutes, title, description): the 1-hour reminder is the one that falls due in the
# workloads; the day-before one was sent a day ago; the 10-minute one is still to come.
REMINDERS = [
    (1, 0, 0, "Tomorrow: [SERVICE]", "Hi [NAME], see you on [DATE] at [TIME]."),
    (
        0,
        1,
        0,
        "In an hour: [SERVICE] at [TIME]",
        "Hi [NAME], your [SERVICE] ([DURATION]) starts at [DATETIME] at [LOCATION]. "
        "Booking #[BOOKING_ID].",
    ),
    (0, 0, 10, "Starting soon", "[SERVICE] starts at [TIME]."),
]
DUE_SEQUENCE = 2  # the 1-hour reminder
LOCATIONS = ["Room 1", "Room 2", "https://meet.example.com/abc-defg-hij", "Main street 5, Berlin"]


@dataclass
class Tenant:
    workspace_id: int
    timezone: str
    api_key: str
    services: list[tuple[int, str, int]]  # (id, uid, duration)
    templates: dict[int, list[tuple[int, int, int, int, int, str, str]]] = field(
        default_factory=dict
    )
    """service id -> [(template id, sequence, days, hours, minutes, title, description)]"""
    bot_users: list[int] = field(default_factory=list)


def migrate_db(url: str) -> None:
    migrate.upgrade(url)


async def make_tenants(
    url: str,
    *,
    count: int = 4,
    bot_users: int = 500,
    reminders: Sequence[tuple[int, int, int, str, str]] = REMINDERS,
) -> list[Tenant]:
    """Workspaces with services, reminder templates (`reminders`: (days, hours, minutes, title,
    description), in sequence order), an API key and bot users, via bookd."""
    db = Database(url, pool_size=1)
    now = datetime.now(UTC)
    tenants: list[Tenant] = []
    try:
        async with db.transaction() as session:
            for n in range(count):
                tz = TIMEZONES[n % len(TIMEZONES)]
                workspace = await workspaces.create_workspace(session, f"bench-{n}", tz, now)
                issued = await workspaces.issue_api_key(session, workspace.id, now)
                tenant = Tenant(workspace.id, tz, issued.key, [])
                for s, duration in enumerate(DURATIONS):
                    uid = f"svc-{s}"
                    service = await catalog.create_service(
                        session,
                        workspace.id,
                        ServiceCreate(
                            name=f"Consultation {s}",
                            service_uid=uid,
                            description="A bench service",
                            default_duration=duration,
                        ),
                        now,
                    )
                    tenant.services.append((service.id, uid, duration))
                    rows = []
                    for days, hours, minutes, title, description in reminders:
                        template = await catalog.create_template(
                            session,
                            workspace.id,
                            uid,
                            "reminder",
                            TemplateCreate(
                                title=title,
                                description=description,
                                days=days,
                                hours=hours,
                                minutes=minutes,
                            ),
                            now,
                        )
                        rows.append(
                            (
                                template.id,
                                template.sequence,
                                days,
                                hours,
                                minutes,
                                title,
                                description,
                            )
                        )
                    await catalog.create_template(
                        session,
                        workspace.id,
                        uid,
                        "followup",
                        TemplateCreate(title="Thanks, [NAME]", description="How was [SERVICE]?"),
                        now,
                    )
                    tenant.templates[service.id] = rows
                tenants.append(tenant)
    finally:
        await db.dispose()
    # Bot users in bulk: a name on most, a timezone of their own on some.
    rows_bu = []
    for tenant in tenants:
        for i in range(bot_users):
            rows_bu.append(
                (
                    tenant.workspace_id,
                    f"user-{i}",
                    f"User {i}" if i % 5 else None,
                    TIMEZONES[(i // 7) % len(TIMEZONES)] if i % 3 == 0 else None,
                    False,
                    now,
                    now,
                )
            )
    columns = [
        "workspace_id",
        "ns",
        "name",
        "timezone",
        "followups_opt_out",
        "created_at",
        "updated_at",
    ]
    await _bulk(url, "bot_users", columns, rows_bu)
    ids = await _fetch(url, "SELECT id, workspace_id FROM bot_users ORDER BY id")
    by_workspace = {t.workspace_id: t for t in tenants}
    for bot_user_id, workspace_id in ids:
        # Workspaces of an earlier call are not ours (workload 6 calls this once per workspace,
        # each with its own number of bot users).
        if workspace_id in by_workspace:
            by_workspace[workspace_id].bot_users.append(bot_user_id)
    return tenants


BOOKING_COLUMNS = [
    "id",
    "workspace_id",
    "service_id",
    "bot_user_id",
    "status",
    "start_time",
    "end_time",
    "duration",
    "location",
    "source",
    "metadata",
    "notes",
    "reschedule_count",
    "version",
    "created_at",
    "updated_at",
]
MESSAGE_COLUMNS = [
    "booking_id",
    "template_id",
    "kind",
    "sequence",
    "title",
    "description",
    "scheduled_at",
    "status",
    "sent_at",
    "skip_reason",
    "created_at",
]


async def seed_due(
    url: str,
    tenants: list[Tenant],
    due_times: list[datetime],
    *,
    first_id: int = 1,
    due_sequence: int = DUE_SEQUENCE,
) -> None:
    """One booking per due time, whose reminder of `due_sequence` (the 1-hour one) falls due at
    that time; spread over the tenants, services and bot users. The earlier reminders (the
    day-before one) are already sent, the later ones (the 10-minute one) still pending."""
    rng = random.Random(42)
    created = min(due_times) - timedelta(days=3)
    bookings: list[tuple[object, ...]] = []
    messages: list[tuple[object, ...]] = []
    zones = {t.timezone: ZoneInfo(t.timezone) for t in tenants}
    for n, due in enumerate(due_times):
        booking_id = first_id + n
        tenant = tenants[n % len(tenants)]
        service_id, _uid, duration = tenant.services[(n // len(tenants)) % len(tenant.services)]
        bot_user_id = tenant.bot_users[rng.randrange(len(tenant.bot_users))]
        tz = zones[tenant.timezone]
        templates = tenant.templates[service_id]
        d, h, m = next(t for t in templates if t[1] == due_sequence)[2:5]
        start = policy.followup_time(due, days=d, hours=h, minutes=m, tz=tz)
        metadata = json.dumps({"channel": "telegram", "ref": n}) if n % 2 else None
        bookings.append(
            (
                booking_id,
                tenant.workspace_id,
                service_id,
                bot_user_id,
                "confirmed" if n % 4 else "pending",
                start,
                start + timedelta(minutes=duration),
                duration,
                LOCATIONS[n % len(LOCATIONS)],
                "api",
                metadata,
                "",
                0,
                2 if n % 4 else 1,
                created,
                created,
            )
        )
        for template_id, sequence, days, hours, minutes, title, description in templates:
            at = policy.reminder_time(start, days=days, hours=hours, minutes=minutes, tz=tz)
            sent = sequence < due_sequence
            messages.append(
                (
                    booking_id,
                    template_id,
                    "reminder",
                    sequence,
                    title,
                    description,
                    at,
                    "sent" if sent else "pending",
                    at if sent else None,
                    None,
                    created,
                )
            )
    await _bulk(url, "bookings", BOOKING_COLUMNS, bookings)
    await _bulk(url, "booking_messages", MESSAGE_COLUMNS, messages)
    await analyze(url)


async def analyze(url: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.execute("ANALYZE")
        return
    conn = await asyncpg.connect(pg_plain(url))
    try:
        for table in ("bookings", "booking_messages"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _bulk(url: str, table: str, columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if url.startswith("sqlite"):
        converted = [tuple(_lite(v) for v in row) for row in rows]
        marks = ", ".join("?" for _ in columns)
        with sqlite3.connect(sqlite_path(url)) as conn:
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted
            )
        return
    conn = await asyncpg.connect(pg_plain(url))
    try:
        await conn.copy_records_to_table(table, records=rows, columns=columns)
    finally:
        await conn.close()


def _lite(value: object) -> object:
    # bookd stores naive UTC text on SQLite (kit/db.py UTCDateTime), as SQLAlchemy renders it.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


async def _fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            return conn.execute(sql).fetchall()
    conn = await asyncpg.connect(pg_plain(url))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def build(url: str, due_times: list[datetime], *, tenants: int = 4) -> list[Tenant]:
    """Migrate, make the tenants, seed one booking per due time."""
    migrate_db(url)

    async def run() -> list[Tenant]:
        made = await make_tenants(url, count=tenants)
        await seed_due(url, made, due_times)
        return made

    return asyncio.run(run())
