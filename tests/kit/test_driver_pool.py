"""The driver's own pool behind `Database.driver_connection` (PostgreSQL): connections are kept
and reused, a transaction left open is rolled back on return, and `dispose` closes them."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bookd.kit.db import Database


def test_connections_are_reused_and_returned_clean(scratch_postgres: str) -> None:
    async def scenario() -> None:
        db = Database(scratch_postgres, pool_size=2)
        try:
            async with db.driver_connection() as conn:
                first = await conn.fetchval("SELECT pg_backend_pid()")
                await conn.execute("BEGIN")  # as a use cancelled mid-transaction would leave it
            async with db.driver_connection() as conn:
                assert await conn.fetchval("SELECT pg_backend_pid()") == first
                assert not conn.is_in_transaction()

            # More users at once than connections: the others wait their turn, none fails.
            async def use() -> int:
                async with db.driver_connection() as conn:
                    pid: int = await conn.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.01)")
                    return pid

            pids = await asyncio.gather(*(use() for _ in range(10)))
            assert len(set(pids)) <= 2
        finally:
            await db.dispose()
        # Disposed: the pool's server processes are gone.
        plain = await asyncpg.connect(db.driver_url)
        try:
            deadline = time.monotonic() + 5
            while True:
                others = await plain.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if others == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert others == 0
        finally:
            await plain.close()

    asyncio.run(scenario())
