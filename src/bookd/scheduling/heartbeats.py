"""A scheduler process reporting itself: its `WorkerHeartbeat` row, written as it ticks and read
by the status (`service.workspace_status`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bookd.kit.db import insert_for
from bookd.scheduling.models import WorkerHeartbeat


async def record_heartbeat(
    session: AsyncSession, name: str, *, started_at: datetime, now: datetime, processed: int
) -> None:
    """The process `name` ticked at `now`, having processed `processed` items since `started_at`:
    its row, created on the first beat."""
    statement = insert_for(session)(WorkerHeartbeat).values(
        name=name, started_at=started_at, last_tick_at=now, processed=processed
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"last_tick_at": now, "processed": processed}
        )
    )
