"""The relay: turns each new outbox event into one delivery per matching active trigger.

Events are claimed with `FOR UPDATE SKIP LOCKED` on a partial index of the unrelayed ones and marked
relayed in the same transaction that inserts their deliveries, so several relays can run and each
event is relayed exactly once. (A cursor over `seq` would not do: on PostgreSQL sequence numbers
are taken at insert but become visible at commit, out of order.)

Every change's events are written by `write_events`, which relays them itself, in the transaction
that writes them: the same deliveries, made a moment earlier. The relay loop takes the events
written otherwise (none today but those of an older version, left unrelayed at an upgrade).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events.models import Event
from bookd.kit import bulk, changes
from bookd.kit.bulk import insert_rows
from bookd.webhooks.models import Delivery, Trigger
from bookd.webhooks.schemas import ALL

EVENTS = cast(Table, Event.__table__)
UNRELAYED = text("NOT events.relayed")
DELIVERIES = cast(Table, Delivery.__table__)


def matches(trigger: Any, event_type: str, data: str) -> bool:
    """Whether `trigger` (a `Trigger` or a row with its `event_types` and `service_uids`) wants
    an event of `event_type` with the payload `data` (JSON text, read only for a trigger limited
    to some services)."""
    types = json.loads(trigger.event_types)
    if ALL not in types and event_type not in types:
        return False
    if trigger.service_uids is None:
        return True
    service = json.loads(data).get("service") or {}
    return service.get("service_uid") in json.loads(trigger.service_uids)


async def active_triggers(session: AsyncSession, workspace_ids: set[int]) -> dict[int, list[Any]]:
    """The workspaces' active triggers, as rows of what matching needs (no ORM objects: this
    runs for every batch of events)."""
    triggers: dict[int, list[Any]] = {w: [] for w in workspace_ids}
    rows = await session.execute(
        select(Trigger.id, Trigger.workspace_id, Trigger.event_types, Trigger.service_uids).where(
            Trigger.workspace_id.in_(workspace_ids), Trigger.status == "active"
        )
    )
    for trigger in rows:
        triggers[trigger.workspace_id].append(trigger)
    return triggers


def _delivery(workspace_id: int, trigger_id: int, seq: int, now: datetime) -> dict[str, object]:
    return {
        "workspace_id": workspace_id,
        "trigger_id": trigger_id,
        "event_seq": seq,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def write_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The events' writer (`outbox.row` rows, in their order): inserted already relayed, with
    their deliveries for the triggers active now made in the same transaction, so the relay never
    reads or rewrites them (a new row version and an entry in each index on PostgreSQL), and a
    delivery is due the moment its change commits. Each delivery is made at its event's time."""
    if not rows:
        return
    triggers = await active_triggers(session, {row["workspace_id"] for row in rows})
    for row in rows:
        row["relayed"] = True
    if not any(triggers.values()):
        bulk.insert_later(session, EVENTS, rows)  # with the change set's other inserts
        return
    seqs = {e.id: e.seq for e in await insert_rows(session, EVENTS, rows, returning="id, seq")}
    deliveries = [
        _delivery(row["workspace_id"], trigger.id, seqs[row["id"]], row["occurred_at"])
        for row in rows
        for trigger in triggers[row["workspace_id"]]
        if matches(trigger, row["type"], row["data"])
    ]
    bulk.insert_later(session, DELIVERIES, deliveries)


EVENTS_KIND = changes.Kind("events", 30, write_events)


def unrelayed(limit: int) -> Select[Event]:
    """The oldest events not yet relayed, claimed. The condition is written as the partial index's
    own predicate, `NOT relayed`: SQLAlchemy's `relayed IS false` (PostgreSQL) and `relayed = 0`
    (SQLite) do not match it, and both databases then read the whole table, every quarter second
    in an idle worker's delivery loop."""
    return (
        select(Event)
        .where(UNRELAYED)
        .order_by(Event.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def relay_batch(session: AsyncSession, now: datetime, *, limit: int) -> int:
    """Relay up to `limit` events; returns how many. Flushes only."""
    events = list((await session.scalars(unrelayed(limit))).all())
    if not events:
        return 0
    triggers = await active_triggers(session, {e.workspace_id for e in events})
    rows = [
        _delivery(event.workspace_id, trigger.id, event.seq, now)
        for event in events
        for trigger in triggers[event.workspace_id]
        if matches(trigger, event.type, event.data)
    ]
    # One statement of arrays (`insert_rows`): a multi-row VALUES is compiled anew for every
    # batch, one bound parameter per value, which cost more than everything else the relay does.
    # The events are claimed (FOR UPDATE SKIP LOCKED), so no other relay makes their deliveries.
    await insert_rows(session, DELIVERIES, rows)
    await session.execute(
        update(Event).where(Event.seq.in_([e.seq for e in events])).values(relayed=True),
        execution_options={"synchronize_session": False},
    )
    return len(events)
