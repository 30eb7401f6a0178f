"""REST: /v1/events, the workspace's outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from bookd.events.models import Event
from bookd.events.schemas import EventOut
from bookd.events.types import EventType
from bookd.kit.pagination import Page, Paging, encode_cursor
from bookd.kit.schemas import QueryTime
from bookd.kit.web import Session, UnitOfWorkRoute, errors
from bookd.workspaces.auth import CurrentCaller

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=UnitOfWorkRoute)


@router.get("", response_model=Page[EventOut], responses=errors())
async def list_events(
    caller: CurrentCaller,
    session: Session,
    page: Paging,
    type: Annotated[EventType | None, Query(description="Only events of this type")] = None,
    booking_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    occurred_from: Annotated[
        QueryTime | None, Query(description="ISO 8601 with an offset; occurred_at >= this")
    ] = None,
    occurred_to: Annotated[
        QueryTime | None, Query(description="ISO 8601 with an offset; occurred_at < this")
    ] = None,
) -> Page[EventOut]:
    query = select(Event).where(Event.workspace_id == caller.workspace_id)
    if type is not None:
        query = query.where(Event.type == type.value)
    if booking_id is not None:
        query = query.where(Event.booking_id == booking_id)
    if occurred_from is not None:
        query = query.where(Event.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(Event.occurred_at < occurred_to)
    if page.after_id is not None:
        query = query.where(Event.seq > page.after_id)
    rows = list((await session.scalars(query.order_by(Event.seq).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return Page(
        data=[EventOut.of(e) for e in rows],
        next_cursor=encode_cursor(rows[-1].seq) if more else None,
    )
