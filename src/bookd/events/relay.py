"""The relay: turns each new outbox event into one delivery per matching active trigger.

Events are claimed with `FOR UPDATE SKIP LOCKED` on a partial index of the unrelayed ones and marked
relayed in the same transaction that inserts their deliveries, so several relays can run and each
event is relayed exactly once. (A cursor over `seq` would not do: on PostgreSQL sequence numbers
are taken at insert but become visible at commit, out of order.)
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events.models import Event
from bookd.kit.db import insert_for
from bookd.webhooks.models import Delivery, Trigger
from bookd.webhooks.schemas import ALL


def matches(trigger: Trigger, event: Event) -> bool:
    types = json.loads(trigger.event_types)
    if ALL not in types and event.type not in types:
        return False
    if trigger.service_uids is None:
        return True
    service = json.loads(event.data).get("service") or {}
    return service.get("service_uid") in json.loads(trigger.service_uids)


async def relay_batch(session: AsyncSession, now: datetime, *, limit: int) -> int:
    """Relay up to `limit` events; returns how many. Flushes only."""
    events = list(
        (
            await session.scalars(
                select(Event)
                .where(Event.relayed.is_(False))
                .order_by(Event.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    if not events:
        return 0
    workspace_ids = {e.workspace_id for e in events}
    triggers: dict[int, list[Trigger]] = {w: [] for w in workspace_ids}
    for trigger in await session.scalars(
        select(Trigger).where(Trigger.workspace_id.in_(workspace_ids), Trigger.status == "active")
    ):
        triggers[trigger.workspace_id].append(trigger)
    rows = [
        {
            "workspace_id": event.workspace_id,
            "trigger_id": trigger.id,
            "event_seq": event.seq,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
        for trigger in triggers[event.workspace_id]
        if matches(trigger, event)
    ]
    if rows:
        insert = insert_for(session)
        await session.execute(
            insert(Delivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_seq", "trigger_id"])
        )
    await session.execute(
        update(Event).where(Event.seq.in_([e.seq for e in events])).values(relayed=True),
        execution_options={"synchronize_session": False},
    )
    return len(events)
