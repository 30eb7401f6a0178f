"""The floor: plain asyncpg, no framework. Claims due reminders in batches with FOR UPDATE SKIP
LOCKED, marks them sent and inserts one ~300-byte event per row, one transaction per batch, until
nothing is due. Run as `python -m bench.floor URL [BATCH]`."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

import asyncpg

CLAIM = """
WITH due AS (
  SELECT id FROM booking_messages
  WHERE status = 'pending' AND scheduled_at <= $1
  ORDER BY scheduled_at LIMIT $2
  FOR UPDATE SKIP LOCKED)
UPDATE booking_messages m SET status = 'sent', sent_at = $1
FROM due, bookings b
WHERE m.id = due.id AND b.id = m.booking_id
RETURNING m.id, m.booking_id, m.scheduled_at, m.title, b.workspace_id
"""
INSERT = """
INSERT INTO events (id, workspace_id, type, booking_id, occurred_at, data)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[], $6::text[])
"""


async def main(url: str, batch: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        while True:
            now = datetime.now(UTC)
            async with conn.transaction():
                rows = await conn.fetch(CLAIM, now, batch)
                if not rows:
                    return
                n = len(rows)
                data = [
                    json.dumps(
                        {
                            "reminder": {
                                "id": r["id"],
                                "booking_id": r["booking_id"],
                                "title": r["title"],
                                "scheduled_at": r["scheduled_at"].isoformat(),
                                "sent_at": now.isoformat(),
                            },
                            "padding": "x" * 120,
                        },
                        separators=(",", ":"),
                    )
                    for r in rows
                ]
                await conn.execute(
                    INSERT,
                    [f"evt_{uuid.uuid4().hex}" for _ in range(n)],
                    [r["workspace_id"] for r in rows],
                    ["REMINDER_SENDING"] * n,
                    [r["booking_id"] for r in rows],
                    [now] * n,
                    data,
                )
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500))
