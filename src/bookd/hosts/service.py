"""Hosts: the per-workspace limit, immutable UIDs, a person's capacity of one, and what a customer
sees of them (active hosts: uid, name and kind). Flushes only; the caller's unit of work commits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.catalog.models import BookingService
from bookd.catalog.service import get_service
from bookd.hosts.models import Host, ServiceAssignment, ServiceHost
from bookd.hosts.schemas import (
    HostCreate,
    HostOut,
    HostUpdate,
    ResourceOut,
    ServiceHostOut,
    ServiceHostsIn,
    ServiceHostsOut,
    TimeOff,
    TimeOffOut,
)
from bookd.kit.clock import iso_z
from bookd.kit.db import added, page_of
from bookd.kit.errors import Conflict, LimitExceeded, NotFound, ValidationFailed, found
from bookd.workspaces.models import Workspace

MAX_HOSTS = 200

# Fields a PATCH clears with `null`; the others keep their value when given `null`.
CLEARABLE = frozenset({"email", "weekly_hours", "max_bookings_per_day", "max_minutes_per_day"})

_HOST_BY_UID = select(Host).where(
    Host.workspace_id == bindparam("workspace_id"), Host.host_uid == bindparam("host_uid")
)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _time_off(entries: list[TimeOff]) -> str:
    """Stored in UTC, in start order."""
    ordered = sorted(entries, key=lambda t: (t.start, t.end))
    return _compact(
        [{"start": iso_z(t.start), "end": iso_z(t.end), "reason": t.reason} for t in ordered]
    )


def host_out(host: Host) -> HostOut:
    return HostOut(
        host_uid=host.host_uid,
        kind=host.kind,
        name=host.name,
        email=host.email,
        timezone=host.timezone,
        weekly_hours=json.loads(host.weekly_hours) if host.weekly_hours is not None else None,
        date_overrides=json.loads(host.date_overrides),
        time_off=[
            TimeOffOut(
                start=datetime.fromisoformat(t["start"]),
                end=datetime.fromisoformat(t["end"]),
                reason=t["reason"],
            )
            for t in json.loads(host.time_off)
        ],
        capacity=host.capacity,
        buffer_before=host.buffer_before,
        buffer_after=host.buffer_after,
        max_bookings_per_day=host.max_bookings_per_day,
        max_minutes_per_day=host.max_minutes_per_day,
        active=host.active,
        created_at=host.created_at,
        updated_at=host.updated_at,
    )


async def list_hosts(
    session: AsyncSession,
    workspace_id: int,
    *,
    limit: int,
    after_id: int | None = None,
    active_only: bool = False,
) -> list[Host]:
    query = select(Host).where(Host.workspace_id == workspace_id)
    if active_only:
        query = query.where(Host.active.is_(True))
    page = page_of(query, Host.id, limit=limit, after_id=after_id)
    return list((await session.scalars(page)).all())


async def get_host(
    session: AsyncSession,
    workspace_id: int,
    host_uid: str,
    *,
    lock: bool = False,
    active_only: bool = False,
) -> Host:
    """The host `host_uid`, or 404; with `active_only` (a customer's view) an inactive one too."""
    query = _HOST_BY_UID.with_for_update() if lock else _HOST_BY_UID
    if active_only:
        query = query.where(Host.active.is_(True))
    params = {"workspace_id": workspace_id, "host_uid": host_uid}
    return found(await session.scalar(query, params), f"host {host_uid!r}")


def _check_capacity(kind: str, capacity: int, field: str) -> None:
    if kind == "person" and capacity != 1:
        raise ValidationFailed.on(
            field, "person_capacity", "a person's capacity is 1 (a resource may have more)"
        )


def _dump_hours(data: HostCreate | HostUpdate) -> dict[str, Any]:
    return data.model_dump(mode="json", include={"weekly_hours", "date_overrides"})


async def create_host(
    session: AsyncSession, workspace_id: int, data: HostCreate, now: datetime
) -> Host:
    # The workspace row lock serialises creations, so two racing ones cannot both be the last.
    workspace = await session.scalar(
        select(Workspace).where(Workspace.id == workspace_id).with_for_update()
    )
    workspace = found(workspace, "workspace")
    count = await session.scalar(
        select(func.count()).select_from(Host).where(Host.workspace_id == workspace_id)
    )
    if (count or 0) >= MAX_HOSTS:
        raise LimitExceeded(f"a workspace has at most {MAX_HOSTS} hosts")
    taken = await session.scalar(
        select(Host.id).where(Host.workspace_id == workspace_id, Host.host_uid == data.host_uid)
    )
    if taken is not None:
        raise Conflict(
            f"host_uid {data.host_uid!r} is already used in this workspace",
            [{"field": "host_uid", "code": "already_exists", "message": "host_uid is taken"}],
        )
    _check_capacity(data.kind, data.capacity, "capacity")
    hours = _dump_hours(data)
    return await added(
        session,
        Host(
            workspace_id=workspace_id,
            host_uid=data.host_uid,
            kind=data.kind,
            name=data.name,
            email=data.email,
            timezone=data.timezone or workspace.timezone,
            weekly_hours=None if data.weekly_hours is None else _compact(hours["weekly_hours"]),
            date_overrides=_compact(hours["date_overrides"]),
            time_off=_time_off(data.time_off),
            capacity=data.capacity,
            buffer_before=data.buffer_before,
            buffer_after=data.buffer_after,
            max_bookings_per_day=data.max_bookings_per_day,
            max_minutes_per_day=data.max_minutes_per_day,
            active=data.active,
            created_at=now,
            updated_at=now,
        ),
    )


async def update_host(
    session: AsyncSession, workspace_id: int, host_uid: str, data: HostUpdate, now: datetime
) -> Host:
    host = await get_host(session, workspace_id, host_uid, lock=True)
    if data.host_uid is not None and data.host_uid != host.host_uid:
        raise ValidationFailed.on("host_uid", "immutable", "host_uid cannot change after creation")
    given = data.model_fields_set - {"host_uid"}
    kind = data.kind if data.kind is not None else host.kind
    capacity = data.capacity if data.capacity is not None else host.capacity
    _check_capacity(kind, capacity, "capacity" if data.capacity is not None else "kind")
    hours = _dump_hours(data)
    for name in given:
        value = getattr(data, name)
        if value is None and name not in CLEARABLE:
            continue
        if name == "weekly_hours":
            host.weekly_hours = None if value is None else _compact(hours["weekly_hours"])
        elif name == "date_overrides":
            host.date_overrides = _compact(hours["date_overrides"])
        elif name == "time_off":
            host.time_off = _time_off(value)
        else:
            setattr(host, name, value)
    host.updated_at = now
    await session.flush()
    return host


async def delete_host(session: AsyncSession, workspace_id: int, host_uid: str) -> None:
    host = await get_host(session, workspace_id, host_uid, lock=True)
    await session.delete(host)
    await session.flush()


# --- who serves a service ------------------------------------------------------------------------


async def _assignment(
    session: AsyncSession, service: BookingService
) -> tuple[ServiceAssignment | None, list[tuple[ServiceHost, Host]]]:
    row = await session.get(ServiceAssignment, service.id)
    members = (
        await session.execute(
            select(ServiceHost, Host)
            .join(Host, Host.id == ServiceHost.host_id)
            .where(ServiceHost.service_id == service.id)
            .order_by(ServiceHost.role, Host.id)
        )
    ).all()
    return row, [(m, h) for m, h in members]


def assignment_out(
    service: BookingService, row: ServiceAssignment, members: list[tuple[ServiceHost, Host]]
) -> ServiceHostsOut:
    return ServiceHostsOut(
        service_uid=service.service_uid,
        assignment=row.mode,
        hosts=[
            ServiceHostOut(
                host_uid=h.host_uid,
                name=h.name,
                kind=h.kind,
                active=h.active,
                priority=m.priority,
                weight=m.weight,
            )
            for m, h in members
            if m.role == "host"
        ],
        resources=[
            ResourceOut(host_uid=h.host_uid, name=h.name, active=h.active)
            for m, h in members
            if m.role == "resource"
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_service_hosts(
    session: AsyncSession, workspace_id: int, service_uid: str
) -> ServiceHostsOut:
    """Who serves the service; 404 when no host does (its bookings are unassigned)."""
    service = await get_service(session, workspace_id, service_uid)
    row, members = await _assignment(session, service)
    if row is None:
        raise NotFound(f"booking service {service_uid!r} has no hosts")
    return assignment_out(service, row, members)


async def put_service_hosts(
    session: AsyncSession, workspace_id: int, service_uid: str, data: ServiceHostsIn, now: datetime
) -> ServiceHostsOut:
    """Set or replace who serves the service, as a whole. Bookings already made keep their hosts;
    a host that stays keeps the date it joined (round robin's share counts from it)."""
    service = await get_service(session, workspace_id, service_uid, lock=True)
    named = [h.host_uid for h in data.hosts] + list(data.resources)
    found_hosts = {
        h.host_uid: h
        for h in await session.scalars(
            select(Host).where(Host.workspace_id == workspace_id, Host.host_uid.in_(named))
        )
    }
    for field, uids in (
        ("hosts", [h.host_uid for h in data.hosts]),
        ("resources", list(data.resources)),
    ):
        for i, uid in enumerate(uids):
            where = f"{field}.{i}.host_uid" if field == "hosts" else f"{field}.{i}"
            if uid not in found_hosts:
                raise ValidationFailed.on(where, "not_found", f"no host {uid!r}")
            if field == "resources" and found_hosts[uid].kind != "resource":
                raise ValidationFailed.on(
                    where, "not_a_resource", f"host {uid!r} is a person, not a resource"
                )
    row, members = await _assignment(session, service)
    joined = {m.host_id: m.added_at for m, _ in members}
    if row is None:
        row = ServiceAssignment(
            service_id=service.id, mode=data.assignment, created_at=now, updated_at=now
        )
        session.add(row)
    row.mode = data.assignment
    row.updated_at = now
    await session.execute(delete(ServiceHost).where(ServiceHost.service_id == service.id))
    wanted = [(found_hosts[h.host_uid], "host", h.priority, h.weight) for h in data.hosts]
    wanted += [(found_hosts[uid], "resource", 2, 100) for uid in data.resources]
    for host, role, priority, weight in wanted:
        session.add(
            ServiceHost(
                service_id=service.id,
                host_id=host.id,
                role=role,
                priority=priority,
                weight=weight,
                added_at=joined.get(host.id, now),
            )
        )
    await session.flush()
    row, members = await _assignment(session, service)
    assert row is not None
    return assignment_out(service, row, members)


async def delete_service_hosts(session: AsyncSession, workspace_id: int, service_uid: str) -> None:
    """No host serves the service any more; its bookings keep the hosts they hold."""
    service = await get_service(session, workspace_id, service_uid, lock=True)
    row = await session.get(ServiceAssignment, service.id)
    if row is None:
        raise NotFound(f"booking service {service_uid!r} has no hosts")
    await session.execute(delete(ServiceHost).where(ServiceHost.service_id == service.id))
    await session.delete(row)
    await session.flush()
