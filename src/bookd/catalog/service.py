"""Booking services and templates: the 20-per-workspace and 5-per-kind limits, immutable UIDs,
automatic sequence numbers, and what a customer sees of them (active services only). Flushes only;
the caller's unit of work commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.catalog.models import BookingService, Template
from bookd.catalog.schemas import (
    MAX_OFFSET_MINUTES,
    ServiceCreate,
    ServiceUpdate,
    TemplateCreate,
    TemplateKind,
    TemplateUpdate,
    offset_too_large,
)
from bookd.kit.db import added, page_of
from bookd.kit.errors import Conflict, LimitExceeded, ValidationFailed, found
from bookd.workspaces.models import Customer, Workspace

MAX_SERVICES = 20
MAX_TEMPLATES = 5


# What a customer sees of the catalog: the services it can book.
_FOR_CUSTOMERS = BookingService.status == "active"


async def list_services(
    session: AsyncSession,
    workspace_id: int,
    *,
    limit: int,
    after_id: int | None = None,
    customer: Customer | None = None,
) -> list[BookingService]:
    """The workspace's services; a customer's list holds the active ones only."""
    query = select(BookingService).where(BookingService.workspace_id == workspace_id)
    if customer is not None:
        query = query.where(_FOR_CUSTOMERS)
    page = page_of(query, BookingService.id, limit=limit, after_id=after_id)
    return list((await session.scalars(page)).all())


# Statements every booking's creation runs, built once: building one costs as much as running it.
_SERVICE_BY_UID = select(BookingService).where(
    BookingService.workspace_id == bindparam("workspace_id"),
    BookingService.service_uid == bindparam("service_uid"),
)
_SERVICE_FOR_CUSTOMER = _SERVICE_BY_UID.where(_FOR_CUSTOMERS)
_TEMPLATES = (
    select(Template)
    .where(Template.service_id == bindparam("service_id"), Template.kind == bindparam("kind"))
    .order_by(Template.sequence)
)
_ACTIVE_TEMPLATES = _TEMPLATES.where(Template.status == "active")


async def get_service(
    session: AsyncSession,
    workspace_id: int,
    service_uid: str,
    *,
    lock: bool = False,
    customer: Customer | None = None,
) -> BookingService:
    """The service `service_uid`, or 404; to a customer an inactive service is a 404 too."""
    if customer is not None:
        query = _SERVICE_FOR_CUSTOMER
    else:
        query = _SERVICE_BY_UID.with_for_update() if lock else _SERVICE_BY_UID
    params = {"workspace_id": workspace_id, "service_uid": service_uid}
    return found(await session.scalar(query, params), f"booking service {service_uid!r}")


async def get_service_by_id(
    session: AsyncSession, workspace_id: int, service_id: int
) -> BookingService:
    service = await session.scalar(
        select(BookingService).where(
            BookingService.workspace_id == workspace_id, BookingService.id == service_id
        )
    )
    return found(service, f"booking service with id {service_id}")


async def create_service(
    session: AsyncSession, workspace_id: int, data: ServiceCreate, now: datetime
) -> BookingService:
    # The workspace row lock serialises creations, so two racing ones cannot both be the 20th.
    await session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()
    )
    count = await session.scalar(
        select(func.count())
        .select_from(BookingService)
        .where(BookingService.workspace_id == workspace_id)
    )
    if (count or 0) >= MAX_SERVICES:
        raise LimitExceeded(f"a workspace has at most {MAX_SERVICES} booking services")
    taken = await session.scalar(
        select(BookingService.id).where(
            BookingService.workspace_id == workspace_id,
            BookingService.service_uid == data.service_uid,
        )
    )
    if taken is not None:
        raise Conflict(
            f"service_uid {data.service_uid!r} is already used in this workspace",
            [{"field": "service_uid", "code": "already_exists", "message": "service_uid is taken"}],
        )
    return await added(
        session,
        BookingService(
            workspace_id=workspace_id,
            service_uid=data.service_uid,
            name=data.name,
            description=data.description,
            default_duration=data.default_duration,
            status=data.status,
            customer_can_cancel=data.customer_can_cancel,
            customer_can_reschedule=data.customer_can_reschedule,
            customer_cutoff_minutes=data.customer_cutoff_minutes,
            created_at=now,
            updated_at=now,
        ),
    )


async def update_service(
    session: AsyncSession, workspace_id: int, service_uid: str, data: ServiceUpdate, now: datetime
) -> BookingService:
    service = await get_service(session, workspace_id, service_uid, lock=True)
    if data.service_uid is not None and data.service_uid != service.service_uid:
        raise ValidationFailed.on(
            "service_uid", "immutable", "service_uid cannot change after creation"
        )
    for name, value in data.model_dump(exclude_unset=True, exclude={"service_uid"}).items():
        # Left out or null: unchanged; except the cutoff, which null removes.
        if value is not None or name == "customer_cutoff_minutes":
            setattr(service, name, value)
    service.updated_at = now
    await session.flush()
    return service


async def delete_service(session: AsyncSession, workspace_id: int, service_uid: str) -> None:
    service = await get_service(session, workspace_id, service_uid, lock=True)
    await session.execute(delete(Template).where(Template.service_id == service.id))
    try:
        await session.delete(service)
        await session.flush()
    except IntegrityError:
        # The bookings' foreign key refuses it (on both databases): the caller's transaction rolls
        # back, the templates with it.
        raise Conflict("the service still has bookings: deactivate it instead") from None


async def list_templates(
    session: AsyncSession, service: BookingService, kind: TemplateKind, *, active_only: bool = False
) -> list[Template]:
    query = _ACTIVE_TEMPLATES if active_only else _TEMPLATES
    params = {"service_id": service.id, "kind": kind}
    return list((await session.scalars(query, params)).all())


async def get_template(
    session: AsyncSession, service: BookingService, kind: TemplateKind, sequence: int
) -> Template:
    template = await session.scalar(
        select(Template).where(
            Template.service_id == service.id, Template.kind == kind, Template.sequence == sequence
        )
    )
    return found(template, f"{kind} with sequence {sequence}")


def _check_offset(days: int, hours: int, minutes: int) -> None:
    if offset_too_large(days, hours, minutes):
        message = (
            f"the offset (days + hours + minutes) is at most {MAX_OFFSET_MINUTES // 1440} days"
        )
        raise ValidationFailed(
            message,
            [
                {"field": f, "code": "offset_too_large", "message": message}
                for f in ("days", "hours", "minutes")
            ],
        )


async def create_template(
    session: AsyncSession,
    workspace_id: int,
    service_uid: str,
    kind: TemplateKind,
    data: TemplateCreate,
    now: datetime,
) -> Template:
    _check_offset(data.days, data.hours, data.minutes)
    # Locking the service serialises sequence assignment for its templates.
    service = await get_service(session, workspace_id, service_uid, lock=True)
    used = {t.sequence for t in await list_templates(session, service, kind)}
    free = [n for n in range(1, MAX_TEMPLATES + 1) if n not in used]
    if not free:
        raise LimitExceeded(f"a service has at most {MAX_TEMPLATES} {kind}s")
    return await added(
        session,
        Template(
            service_id=service.id,
            kind=kind,
            sequence=free[0],
            title=data.title,
            description=data.description,
            days=data.days,
            hours=data.hours,
            minutes=data.minutes,
            status=data.status,
            created_at=now,
            updated_at=now,
        ),
    )


async def update_template(
    session: AsyncSession,
    workspace_id: int,
    service_uid: str,
    kind: TemplateKind,
    sequence: int,
    data: TemplateUpdate,
    now: datetime,
) -> Template:
    service = await get_service(session, workspace_id, service_uid, lock=True)
    template = await get_template(session, service, kind, sequence)
    changes = data.model_dump(exclude_none=True)
    merged = {k: changes.get(k, getattr(template, k)) for k in ("days", "hours", "minutes")}
    _check_offset(**merged)
    for name, value in changes.items():
        setattr(template, name, value)
    template.updated_at = now
    await session.flush()
    return template


async def delete_template(
    session: AsyncSession, workspace_id: int, service_uid: str, kind: TemplateKind, sequence: int
) -> None:
    service = await get_service(session, workspace_id, service_uid, lock=True)
    template = await get_template(session, service, kind, sequence)
    await session.delete(template)
    await session.flush()
