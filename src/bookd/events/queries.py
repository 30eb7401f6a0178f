"""Event reads: the workspace's outbox as the events list shows it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events.models import Event
from bookd.kit.db import page_of


async def list_events(
    session: AsyncSession,
    workspace_id: int,
    *,
    event_type: str | None = None,
    booking_id: int | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    limit: int,
    after_seq: int | None,
) -> list[Event]:
    """A page of the workspace's events that match, in outbox order (`seq`) after `after_seq`;
    `occurred_from` is inclusive, `occurred_to` exclusive."""
    query = select(Event).where(Event.workspace_id == workspace_id)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    if booking_id is not None:
        query = query.where(Event.booking_id == booking_id)
    if occurred_from is not None:
        query = query.where(Event.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(Event.occurred_at < occurred_to)
    page = page_of(query, Event.seq, limit=limit, after_id=after_seq)
    return list((await session.scalars(page)).all())
