"""Writing events: always through the caller's session, so an event commits with its change."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.events import payloads
from bookd.events.models import Event
from bookd.events.types import EventType
from bookd.kit.bulk import insert_rows

EVENTS = cast(Table, Event.__table__)


def new_event_id() -> str:
    # 128 random bits as 32 hex digits, the shape of a UUID's hex without its version bits:
    # cheaper than uuid4(), and the scheduler names an event for every reminder it sends.
    return "evt_" + os.urandom(16).hex()


def record(
    session: AsyncSession,
    *,
    workspace_id: int,
    type: EventType,
    occurred_at: datetime,
    data: dict[str, Any],
    booking_id: int | None = None,
) -> Event:
    event = Event(
        id=new_event_id(),
        workspace_id=workspace_id,
        type=type.value,
        booking_id=booking_id,
        occurred_at=occurred_at,
        data=payloads.dumps(data),
    )
    session.add(event)
    return event


def row(
    *,
    workspace_id: int,
    type: EventType,
    occurred_at: datetime,
    data: dict[str, Any],
    booking_id: int | None = None,
) -> dict[str, Any]:
    """The same event as `record` makes, as a row for `write`."""
    return {
        "id": new_event_id(),
        "workspace_id": workspace_id,
        "type": type.value,
        "booking_id": booking_id,
        "occurred_at": occurred_at,
        "data": payloads.dumps(data),
        "relayed": False,
    }


async def write(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert event rows now, in the caller's transaction, in their order (one statement; no ORM
    objects: nothing reads an event back in the transaction that wrote it)."""
    await insert_rows(session, EVENTS, rows)
