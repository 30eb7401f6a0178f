"""REST: /v1/events, the workspace's outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bookd.events import queries
from bookd.events.schemas import EventOut
from bookd.events.types import EventType
from bookd.kit.pagination import Page, Paging, paged
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
    rows = await queries.list_events(
        session,
        caller.workspace_id,
        event_type=type.value if type is not None else None,
        booking_id=booking_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        limit=page.limit + 1,
        after_seq=page.after_id,
    )
    return paged(rows, page.limit, EventOut.of, key=lambda e: e.seq)
