"""REST: a service's availability settings (its free slots: `bookings.endpoints`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bookd.availability import service as availability
from bookd.availability.schemas import AvailabilityIn, AvailabilityOut
from bookd.catalog.endpoints import UidPath
from bookd.kit.errors import NotFound
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces.auth import CurrentCaller

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
