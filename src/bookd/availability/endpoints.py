"""REST: a service's availability settings and its free slots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from bookd.availability import service as availability
from bookd.availability.schemas import AvailabilityIn, AvailabilityOut, SlotQuery, SlotsOut
from bookd.catalog.endpoints import UidPath
from bookd.kit.errors import NotFound, ValidationFailed
from bookd.kit.web import CurrentCaller, Now, Session, UnitOfWorkRoute, errors, validation_details

router = APIRouter(prefix="/v1/services", tags=["availability"], route_class=UnitOfWorkRoute)


@router.get("/{service_uid}/availability", response_model=AvailabilityOut, responses=errors(404))
async def get_availability(
    service_uid: UidPath, caller: CurrentCaller, session: Session
) -> AvailabilityOut:
    """The service's settings; 404 when it has none (it takes any future time)."""
    service, row = await availability.get_settings(session, caller.workspace_id, service_uid)
    if row is None:
        raise NotFound(f"booking service {service_uid!r} has no availability settings")
    return availability.settings_out(service, row)


@router.put("/{service_uid}/availability", response_model=AvailabilityOut, responses=errors(404))
async def put_availability(
    service_uid: UidPath, body: AvailabilityIn, caller: CurrentCaller, session: Session, now: Now
) -> AvailabilityOut:
    """Set or replace the service's settings as a whole. Bookings already made are kept."""
    service, row = await availability.put_settings(
        session, caller.workspace_id, service_uid, body, now
    )
    return availability.settings_out(service, row)


@router.delete("/{service_uid}/availability", status_code=204, responses=errors(404))
async def delete_availability(
    service_uid: UidPath, caller: CurrentCaller, session: Session
) -> Response:
    """Remove the settings: the service takes any future time again."""
    await availability.delete_settings(session, caller.workspace_id, service_uid)
    return Response(status_code=204)


@router.get("/{service_uid}/slots", response_model=SlotsOut, responses=errors(404))
async def list_slots(
    service_uid: UidPath,
    caller: CurrentCaller,
    session: Session,
    now: Now,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="ISO 8601 time with an offset, or a date (midnight in `timezone`); "
            "default: now",
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", max_length=40, description="Like `from`; default: a week after it"),
    ] = None,
    duration: Annotated[
        int | None, Query(ge=0, le=1000, description="Minutes; default: the service's")
    ] = None,
    timezone: Annotated[
        str | None,
        Query(max_length=64, description="IANA name the slots are shown in; default: workspace's"),
    ] = None,
) -> SlotsOut:
    """Free start times in [from, to) with the capacity left at each, at most 62 days."""
    try:
        query = SlotQuery.model_validate(
            {"from": start, "to": end, "duration": duration, "timezone": timezone}
        )
    except ValidationError as exc:
        raise ValidationFailed("the query is not valid", validation_details(exc.errors())) from None
    return await availability.list_slots(session, caller.workspace, service_uid, query, now)
