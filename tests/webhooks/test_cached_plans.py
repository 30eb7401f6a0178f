"""The delivery pipeline's statements are planned again once a table has grown.

asyncpg prepares every statement, and PostgreSQL switches a prepared statement to one generic plan
after five executions, kept until the table's statistics change. Where nothing analyzes the tables
again (autovacuum off, or not yet come round) a plan made with the statistics of an empty table
stays: the relay's poll kept a sequential scan of events and the recorder one of deliveries, each
growing with its table, and delivered lateness rose from under a second to forty within two
minutes of a steady 1,000 deliveries a second. The pipeline plans each execution
(`kit.db.PLAN_EACH`), with the table's size of the moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from bookd.config import Settings
from bookd.kit.db import Database
from bookd.worker import Worker

# Sequential scans of events by this backend: those reported to the statistics and its own not yet
# reported (one connection throughout, so the second part is always this one's).
SCANS = text(
    "SELECT t.seq_scan + x.seq_scan FROM pg_stat_user_tables t "
    "JOIN pg_stat_xact_user_tables x USING (relid) WHERE t.relname = 'events'"
)


def test_the_relay_poll_uses_its_index_after_the_events_table_grows(
    scratch_postgres: str,
) -> None:
    async def scenario() -> int:
        db = Database(scratch_postgres, pool_size=1)
        worker = Worker(db, Settings(database_url=scratch_postgres))
        now = datetime.now(UTC)
        try:
            async with db.transaction() as session:
                await session.execute(text("ANALYZE events"))  # statistics of an empty table
            # An idle worker's polls on that table: more than the five executions after which
            # PostgreSQL may keep one generic plan.
            for _ in range(10):
                await worker.relay(now)
            async with db.transaction() as session:
                await session.execute(
                    text(
                        "INSERT INTO workspaces (name, timezone, created_at) VALUES ('w', 'UTC', now())"
                    )
                )
                await session.execute(
                    text(
                        "INSERT INTO events (id, workspace_id, type, occurred_at, data, relayed) "
                        "SELECT 'evt_' || n, (SELECT min(id) FROM workspaces), 'BOOKING_CREATED', "
                        "now(), '{}', true FROM generate_series(1, 50000) AS n"
                    )
                )
            async with db.transaction(read_only=True) as session:
                before = (await session.execute(SCANS)).scalar_one()
            await worker.relay(now)
            async with db.transaction(read_only=True) as session:
                return (await session.execute(SCANS)).scalar_one() - before
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 0
