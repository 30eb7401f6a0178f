"""The relay's poll for unrelayed events reads the partial index of those, never the whole table:
an idle worker sends it every quarter second, and the events table only grows."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.webhooks.relay import unrelayed
from tests.conftest import run_in_app


def test_the_relay_reads_only_the_unrelayed_events_index(client: TestClient, backend: str) -> None:
    async def plan(session: AsyncSession) -> str:
        dialect = session.get_bind().dialect
        sql = str(unrelayed(500).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if backend == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return " | ".join(str(row[3]) for row in rows)
        # With sequential scans priced out, a plan that still has one could not use the index.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        raw = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
        return json.dumps(raw if not isinstance(raw, str) else json.loads(raw))

    found = run_in_app(client, plan)
    assert "ix_events_unrelayed" in found, found
    assert "Seq Scan" not in found, found
