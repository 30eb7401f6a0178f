"""REST: /v1/hosts, and /v1/services/{uid}/hosts (who serves a service). A customer token lists
and reads the active hosts: uid, name and kind."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bookd.catalog.endpoints import UidPath as ServiceUidPath
from bookd.hosts import service as hosts
from bookd.hosts.models import Host
from bookd.hosts.schemas import (
    HostCreate,
    HostOut,
    HostPublic,
    HostUpdate,
    ServiceHostsIn,
    ServiceHostsOut,
)
from bookd.kit.pagination import Page, Paging32, paged
from bookd.kit.schemas import NO_NUL
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces.auth import Caller, CallerOrCustomer, CurrentCaller

UidPath = Annotated[str, Path(max_length=50, pattern=NO_NUL)]

router = APIRouter(prefix="/v1/hosts", tags=["hosts"], route_class=UnitOfWorkRoute)


def _answer(shape: BaseModel) -> Response:
    """`shape` as it is: a response model of two shapes would validate staff's answer into
    whichever of them fits first, the customer's (it ignores the fields it lacks)."""
    return JSONResponse(shape.model_dump(mode="json"))


def _shown(caller: Caller, host: Host) -> HostOut | HostPublic:
    return HostPublic.model_validate(host) if caller.customer is not None else hosts.host_out(host)


@router.get("", response_model=Page[HostOut] | Page[HostPublic], responses=errors())
async def list_hosts(caller: CallerOrCustomer, session: Session, p: Paging32) -> Response:
    """The workspace's hosts; a customer token's list holds the active ones, uid, name and kind."""
    rows = await hosts.list_hosts(
        session, caller.workspace_id, **p.fetch(), active_only=caller.customer is not None
    )
    return _answer(paged(rows, p.limit, lambda h: _shown(caller, h), key=lambda h: h.id))


@router.post("", status_code=201, response_model=HostOut, responses=errors(409))
async def create_host(
    body: HostCreate, caller: CurrentCaller, session: Session, now: Now
) -> HostOut:
    return hosts.host_out(await hosts.create_host(session, caller.workspace_id, body, now))


@router.get("/{host_uid}", response_model=HostOut | HostPublic, responses=errors(404))
async def get_host(host_uid: UidPath, caller: CallerOrCustomer, session: Session) -> Response:
    host = await hosts.get_host(
        session, caller.workspace_id, host_uid, active_only=caller.customer is not None
    )
    return _answer(_shown(caller, host))


@router.patch("/{host_uid}", response_model=HostOut, responses=errors(404))
async def update_host(
    host_uid: UidPath, body: HostUpdate, caller: CurrentCaller, session: Session, now: Now
) -> HostOut:
    return hosts.host_out(
        await hosts.update_host(session, caller.workspace_id, host_uid, body, now)
    )


@router.delete("/{host_uid}", status_code=204, responses=errors(404))
async def delete_host(host_uid: UidPath, caller: CurrentCaller, session: Session) -> Response:
    await hosts.delete_host(session, caller.workspace_id, host_uid)
    return Response(status_code=204)


services_router = APIRouter(prefix="/v1/services", tags=["hosts"], route_class=UnitOfWorkRoute)


@services_router.get("/{service_uid}/hosts", response_model=ServiceHostsOut, responses=errors(404))
async def get_service_hosts(
    service_uid: ServiceUidPath, caller: CurrentCaller, session: Session
) -> ServiceHostsOut:
    """Who serves the service and how one is picked; 404 when no host does."""
    return await hosts.get_service_hosts(session, caller.workspace_id, service_uid)


@services_router.put("/{service_uid}/hosts", response_model=ServiceHostsOut, responses=errors(404))
async def put_service_hosts(
    service_uid: ServiceUidPath,
    body: ServiceHostsIn,
    caller: CurrentCaller,
    session: Session,
    now: Now,
) -> ServiceHostsOut:
    """Set or replace, as a whole, the service's hosts, their priorities and weights, the
    resources each booking needs and the assignment mode. Bookings already made keep theirs."""
    return await hosts.put_service_hosts(session, caller.workspace_id, service_uid, body, now)


@services_router.delete("/{service_uid}/hosts", status_code=204, responses=errors(404))
async def delete_service_hosts(
    service_uid: ServiceUidPath, caller: CurrentCaller, session: Session
) -> Response:
    """No host serves the service any more; its bookings keep the hosts they hold."""
    await hosts.delete_service_hosts(session, caller.workspace_id, service_uid)
    return Response(status_code=204)
