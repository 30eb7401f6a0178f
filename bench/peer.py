"""The peer: procrastinate, one job per due reminder, each doing the floor's writes for its row
(mark it sent, insert one ~300-byte event) in one transaction.

`python -m bench.peer defer URL` enqueues one job per pending due reminder;
`python -m bench.peer work URL CONCURRENCY` runs one worker until the queue is empty.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import procrastinate

pool: Any = None

SEND = """
UPDATE booking_messages m SET status = 'sent', sent_at = $2
FROM bookings b
WHERE m.id = $1 AND m.status = 'pending' AND b.id = m.booking_id
RETURNING m.id, m.booking_id, m.scheduled_at, m.title, b.workspace_id
"""
INSERT = """
INSERT INTO events (id, workspace_id, type, booking_id, occurred_at, data)
VALUES ($1, $2, 'REMINDER_SENDING', $3, $4, $5)
"""


def make_app(url: str, pool_size: int = 2) -> procrastinate.App:
    """An app on this database only (libpq's defaults would pick another one)."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=url, min_size=pool_size, max_size=pool_size
        )
    )
    app.task(name="send_reminder")(send_reminder)
    return app


async def send_reminder(message_id: int) -> None:
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(SEND, message_id, now)
        if row is None:
            return
        data = json.dumps(
            {
                "reminder": {
                    "id": row["id"],
                    "booking_id": row["booking_id"],
                    "title": row["title"],
                    "scheduled_at": row["scheduled_at"].isoformat(),
                    "sent_at": now.isoformat(),
                },
                "padding": "x" * 120,
            },
            separators=(",", ":"),
        )
        await conn.execute(
            INSERT, f"evt_{uuid.uuid4().hex}", row["workspace_id"], row["booking_id"], now, data
        )


async def defer(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM booking_messages WHERE status = 'pending' AND scheduled_at <= now()"
            )
        ]
    finally:
        await conn.close()
    app = make_app(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = app.tasks["send_reminder"]
        for start in range(0, len(ids), 1000):
            await task.batch_defer_async(*({"message_id": i} for i in ids[start : start + 1000]))
    return len(ids)


async def work(url: str, concurrency: int) -> None:
    global pool
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency)
    app = make_app(url, concurrency + 2)
    try:
        async with app.open_async():
            await app.run_worker_async(
                concurrency=concurrency,
                wait=False,
                install_signal_handlers=False,
                delete_jobs="never",
            )
    finally:
        await pool.close()


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    if command == "defer":
        print(asyncio.run(defer(target)))
    else:
        asyncio.run(work(target, int(sys.argv[3]) if len(sys.argv) > 3 else 10))
