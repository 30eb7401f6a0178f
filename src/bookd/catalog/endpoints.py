"""REST: /v1/services and their reminders and follow-ups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from bookd.catalog import service as catalog
from bookd.catalog.schemas import (
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    TemplateCreate,
    TemplateKind,
    TemplateOut,
    TemplateUpdate,
)
from bookd.kit.pagination import Page, Paging32, paged
from bookd.kit.schemas import NO_NUL
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces.auth import CallerOrCustomer, CurrentCaller

# A service's UID in a URL path.
UidPath = Annotated[str, Path(max_length=50, pattern=NO_NUL)]

router = APIRouter(prefix="/v1/services", tags=["services"], route_class=UnitOfWorkRoute)

SequencePath = Annotated[int, Path(ge=1, le=5)]


@router.get("", response_model=Page[ServiceOut], responses=errors())
async def list_services(
    caller: CallerOrCustomer, session: Session, p: Paging32
) -> Page[ServiceOut]:
    """The workspace's booking services; a customer token's list holds the active ones only."""
    rows = await catalog.list_services(
        session, caller.workspace_id, **p.fetch(), customer=caller.customer
    )
    return paged(rows, p.limit, ServiceOut.model_validate, key=lambda s: s.id)


@router.post("", status_code=201, response_model=ServiceOut, responses=errors(409))
async def create_service(
    body: ServiceCreate, caller: CurrentCaller, session: Session, now: Now
) -> ServiceOut:
    return ServiceOut.model_validate(
        await catalog.create_service(session, caller.workspace_id, body, now)
    )


@router.get("/{service_uid}", response_model=ServiceOut, responses=errors(404))
async def get_service(
    service_uid: UidPath, caller: CallerOrCustomer, session: Session
) -> ServiceOut:
    return ServiceOut.model_validate(
        await catalog.get_service(
            session, caller.workspace_id, service_uid, customer=caller.customer
        )
    )


@router.patch("/{service_uid}", response_model=ServiceOut, responses=errors(404))
async def update_service(
    service_uid: UidPath, body: ServiceUpdate, caller: CurrentCaller, session: Session, now: Now
) -> ServiceOut:
    service = await catalog.update_service(session, caller.workspace_id, service_uid, body, now)
    return ServiceOut.model_validate(service)


@router.delete("/{service_uid}", status_code=204, responses=errors(404, 409))
async def delete_service(service_uid: UidPath, caller: CurrentCaller, session: Session) -> Response:
    await catalog.delete_service(session, caller.workspace_id, service_uid)
    return Response(status_code=204)


def _template_routes(kind: TemplateKind, plural: str) -> None:
    """The same five operations for reminders and for follow-ups."""

    @router.get(
        f"/{{service_uid}}/{plural}",
        response_model=Page[TemplateOut],
        responses=errors(404),
        name=f"list_{plural}",
    )
    async def list_templates(
        service_uid: UidPath, caller: CurrentCaller, session: Session
    ) -> Page[TemplateOut]:
        service = await catalog.get_service(session, caller.workspace_id, service_uid)
        rows = await catalog.list_templates(session, service, kind)
        return Page(data=[TemplateOut.model_validate(t) for t in rows], next_cursor=None)

    @router.post(
        f"/{{service_uid}}/{plural}",
        status_code=201,
        response_model=TemplateOut,
        responses=errors(404, 409),
        name=f"create_{kind}",
    )
    async def create_template(
        service_uid: UidPath,
        body: TemplateCreate,
        caller: CurrentCaller,
        session: Session,
        now: Now,
    ) -> TemplateOut:
        template = await catalog.create_template(
            session, caller.workspace_id, service_uid, kind, body, now
        )
        return TemplateOut.model_validate(template)

    @router.get(
        f"/{{service_uid}}/{plural}/{{sequence}}",
        response_model=TemplateOut,
        responses=errors(404),
        name=f"get_{kind}",
    )
    async def get_template(
        service_uid: UidPath, sequence: SequencePath, caller: CurrentCaller, session: Session
    ) -> TemplateOut:
        service = await catalog.get_service(session, caller.workspace_id, service_uid)
        return TemplateOut.model_validate(
            await catalog.get_template(session, service, kind, sequence)
        )

    @router.patch(
        f"/{{service_uid}}/{plural}/{{sequence}}",
        response_model=TemplateOut,
        responses=errors(404),
        name=f"update_{kind}",
    )
    async def update_template(
        service_uid: UidPath,
        sequence: SequencePath,
        body: TemplateUpdate,
        caller: CurrentCaller,
        session: Session,
        now: Now,
    ) -> TemplateOut:
        template = await catalog.update_template(
            session, caller.workspace_id, service_uid, kind, sequence, body, now
        )
        return TemplateOut.model_validate(template)

    @router.delete(
        f"/{{service_uid}}/{plural}/{{sequence}}",
        status_code=204,
        responses=errors(404),
        name=f"delete_{kind}",
    )
    async def delete_template(
        service_uid: UidPath, sequence: SequencePath, caller: CurrentCaller, session: Session
    ) -> Response:
        await catalog.delete_template(session, caller.workspace_id, service_uid, kind, sequence)
        return Response(status_code=204)


_template_routes("reminder", "reminders")
_template_routes("followup", "followups")
