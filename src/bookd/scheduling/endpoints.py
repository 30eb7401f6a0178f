"""REST: the scheduler's status, and a preview of when a service's messages would go out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bookd.catalog.endpoints import UidPath
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.scheduling import service as scheduling
from bookd.scheduling.schemas import Preview, PreviewStart, SchedulerStatus
from bookd.workspaces.auth import CurrentCaller

router = APIRouter(tags=["scheduler"], route_class=UnitOfWorkRoute)


@router.get("/v1/scheduler/status", response_model=SchedulerStatus, responses=errors())
async def scheduler_status(caller: CurrentCaller, session: Session, now: Now) -> SchedulerStatus:
    return await scheduling.workspace_status(session, caller.workspace_id, now)


@router.get(
    "/v1/services/{service_uid}/preview",
    response_model=Preview,
    responses=errors(404),
    summary="When this service's reminders and follow-ups would go out, creating nothing",
)
async def preview_schedule(
    service_uid: UidPath,
    start_time: Annotated[
        PreviewStart, Query(description="ISO 8601 with an offset, from the year 2000 to 9000")
    ],
    caller: CurrentCaller,
    session: Session,
    now: Now,
    duration: Annotated[
        int | None, Query(ge=0, le=1000, description="Minutes; the service's default if left out")
    ] = None,
) -> Preview:
    return await scheduling.preview(
        session, caller.workspace, service_uid, start_time, now, duration
    )
