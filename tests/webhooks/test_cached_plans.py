"""A statement prepared while a table was small is planned again once the table has grown.

asyncpg prepares every statement, and PostgreSQL switches a prepared statement to one generic plan
after five executions, kept until the table's statistics change. Where nothing analyzes the tables
again (autovacuum off, or not yet come round) a plan made with the statistics of an empty table
stays: the relay's poll kept a sequential scan of events and the recorder one of deliveries, each
growing with its table, and delivered lateness rose from under a second to forty within two
minutes of a steady 1,000 deliveries a second. bookd's connections plan every execution
(`plan_cache_mode = force_custom_plan`), with the table's size of the moment."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from bookd.kit.db import Database
from bookd.webhooks.relay import unrelayed


def test_the_relay_poll_uses_its_index_after_the_events_table_grows(
    scratch_postgres: str,
) -> None:
    async def scenario() -> int:
        db = Database(scratch_postgres, pool_size=1)
        try:
            async with db.statements() as conn:
                await conn.execute(text("ANALYZE events"))  # statistics of an empty table
            # The poll of an idle worker, on that table: more than the five executions after
            # which PostgreSQL may keep one generic plan.
            for _ in range(10):
                async with db.transaction() as session:
                    await session.execute(unrelayed(500))
            async with db.transaction() as session:
                await session.execute(
                    text(
                        "INSERT INTO workspaces (name, timezone, created_at) "
                        "VALUES ('w', 'UTC', now())"
                    )
                )
                await session.execute(
                    text(
                        "INSERT INTO events (id, workspace_id, type, occurred_at, data, relayed) "
                        "SELECT 'evt_' || n, (SELECT min(id) FROM workspaces), 'BOOKING_CREATED', "
                        "now(), '{}', true FROM generate_series(1, 50000) AS n"
                    )
                )
            scans = text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'events'")
            async with db.transaction() as session:
                # The backend's reads not yet reported to the statistics: a difference.
                before = (await session.execute(scans)).scalar_one()
                await session.execute(unrelayed(500))
                return (await session.execute(scans)).scalar_one() - before
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 0
