"""A service's availability settings: read, replaced, removed, and turned into the pure rules
(`rules.py`). The bookings' side (busy time, the check a booking passes, free slots) is
`bookings.slots`. Flushes only; the caller's unit of work commits.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookd.availability import rules
from bookd.availability.models import ServiceAvailability
from bookd.availability.schemas import (
    WEEKDAYS,
    AvailabilityIn,
    AvailabilityOut,
    DateOverride,
    HoursRange,
    minutes_of,
)
from bookd.catalog import service as catalog
from bookd.catalog.models import BookingService

# --- settings ----------------------------------------------------------------------------------


async def find_settings(session: AsyncSession, service_id: int) -> ServiceAvailability | None:
    return await session.get(ServiceAvailability, service_id)


def effective_capacity(row: ServiceAvailability) -> int | None:
    """The capacity in force: as set; else 1 where opening hours are set, unlimited otherwise."""
    if row.capacity is not None:
        return row.capacity
    return 1 if row.weekly_hours is not None else None


def rules_of(row: ServiceAvailability | None) -> rules.Rules:
    """The pure rules of a settings row; no row: open around the clock, unlimited (SPEC as is)."""
    if row is None:
        return rules.Rules()
    weekly: dict[int, tuple[rules.Range, ...]] | None = None
    if row.weekly_hours is not None:
        stored = json.loads(row.weekly_hours)
        weekly = {
            WEEKDAYS.index(day): tuple(_ranges(ranges)) for day, ranges in stored.items() if ranges
        }
    overrides = {
        date.fromisoformat(o["date"]): tuple(_ranges(o["hours"]))
        for o in json.loads(row.date_overrides)
    }
    return rules.Rules(
        weekly=weekly,
        overrides=overrides,
        capacity=effective_capacity(row),
        buffer_before=timedelta(minutes=row.buffer_before),
        buffer_after=timedelta(minutes=row.buffer_after),
        min_notice=timedelta(minutes=row.min_notice),
        horizon=timedelta(days=row.horizon_days) if row.horizon_days is not None else None,
        interval=timedelta(minutes=row.slot_interval) if row.slot_interval else None,
    )


def _ranges(ranges: list[dict[str, str]]) -> list[rules.Range]:
    return sorted((minutes_of(r["start"]), minutes_of(r["end"])) for r in ranges)


def settings_out(service: BookingService, row: ServiceAvailability) -> AvailabilityOut:
    weekly = json.loads(row.weekly_hours) if row.weekly_hours is not None else None
    return AvailabilityOut(
        service_uid=service.service_uid,
        weekly_hours=(
            {day: [HoursRange(**r) for r in ranges] for day, ranges in weekly.items()}
            if weekly is not None
            else None
        ),
        date_overrides=[DateOverride.model_validate(o) for o in json.loads(row.date_overrides)],
        capacity=row.capacity,
        effective_capacity=effective_capacity(row),
        buffer_before=row.buffer_before,
        buffer_after=row.buffer_after,
        min_notice=row.min_notice,
        horizon_days=row.horizon_days,
        slot_interval=row.slot_interval,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_settings(
    session: AsyncSession, workspace_id: int, service_uid: str
) -> tuple[BookingService, ServiceAvailability | None]:
    service = await catalog.get_service(session, workspace_id, service_uid)
    return service, await find_settings(session, service.id)


async def put_settings(
    session: AsyncSession, workspace_id: int, service_uid: str, data: AvailabilityIn, now: datetime
) -> tuple[BookingService, ServiceAvailability]:
    """Replace a service's settings as a whole (the console's form and the API's PUT)."""
    # The service row lock orders this change against bookings being checked under the old rules.
    service = await catalog.get_service(session, workspace_id, service_uid, lock=True)
    row = await find_settings(session, service.id)
    if row is None:
        row = ServiceAvailability(service_id=service.id, created_at=now)
        session.add(row)
    dumped = data.model_dump(mode="json")
    row.weekly_hours = (
        json.dumps(dumped["weekly_hours"], separators=(",", ":"))
        if data.weekly_hours is not None
        else None
    )
    row.date_overrides = json.dumps(
        sorted(dumped["date_overrides"], key=lambda o: o["date"]), separators=(",", ":")
    )
    row.capacity = data.capacity
    row.buffer_before = data.buffer_before
    row.buffer_after = data.buffer_after
    row.min_notice = data.min_notice
    row.horizon_days = data.horizon_days
    row.slot_interval = data.slot_interval
    row.updated_at = now
    await session.flush()
    return service, row


async def delete_settings(session: AsyncSession, workspace_id: int, service_uid: str) -> None:
    """Back to no settings: the service takes any future time again."""
    service = await catalog.get_service(session, workspace_id, service_uid, lock=True)
    row = await find_settings(session, service.id)
    if row is not None:
        await session.delete(row)
        await session.flush()
