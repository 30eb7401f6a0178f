"""Bookings as busy time: the availability check a booking passes and a service's free slots.

The rules are pure (`availability.rules`) and the settings `availability.service`'s; this module
reads the bookings that take time and asks the rules. Flushes only; the caller's unit of work
commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.availability import rules
from bookd.availability.models import ServiceAvailability
from bookd.availability.schemas import SlotOut, SlotQuery, SlotsOut
from bookd.availability.service import find_settings, rules_of
from bookd.bookings.domain import OPEN
from bookd.bookings.models import Booking
from bookd.catalog import service as catalog
from bookd.catalog.models import BookingService
from bookd.kit.errors import Unavailable, ValidationFailed
from bookd.kit.schemas import EARLIEST, LATEST
from bookd.workspaces.models import Customer, Tenant

# A slots query covers at most this much time: enough for a month view with its edges.
MAX_WINDOW = timedelta(days=62)
DEFAULT_WINDOW = timedelta(days=7)
# The longest booking (SPEC §2: duration at most 1,000 minutes) bounds how early a booking that
# still overlaps a window can start, so the look-up stays a range scan on (service_id, start_time).
MAX_DURATION = timedelta(minutes=1000)


# --- bookings as busy time ---------------------------------------------------------------------


async def busy(
    session: AsyncSession,
    service_id: int,
    start: datetime,
    end: datetime,
    service_rules: rules.Rules,
    *,
    exclude_booking_id: int | None = None,
) -> list[rules.Interval]:
    """The open bookings (pending, confirmed, in progress) whose time, buffers included, may
    touch [start, end) widened by the buffers."""
    pad = service_rules.buffer_before + service_rules.buffer_after + rules.INSTANT
    query = select(Booking.start_time, Booking.end_time).where(
        Booking.service_id == service_id,
        Booking.start_time >= start - pad - MAX_DURATION,
        Booking.start_time < end + pad,
        Booking.end_time > start - pad,
        Booking.status.in_([s.value for s in OPEN]),
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


# --- slots -------------------------------------------------------------------------------------


def _instant(value: datetime | date | None, tz: ZoneInfo, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValidationFailed.on(name, "offset_missing", f"{name} needs an offset, or a date")
    try:
        if isinstance(value, datetime):
            instant: datetime | None = value.astimezone(UTC)
        else:
            instant = datetime.combine(value, time(), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        instant = None  # before the year 1 or after 9999 in UTC
    if instant is None or not EARLIEST <= instant < LATEST:
        raise ValidationFailed.on(name, "out_of_range", f"{name} must lie between 2000 and 9000")
    return instant


def window(query: SlotQuery, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """The asked window in UTC: `from` defaults to now, `to` to a week after `from`."""
    start = _instant(query.start, tz, "from") or now
    end = _instant(query.end, tz, "to") or start + DEFAULT_WINDOW
    if end <= start:
        raise ValidationFailed.on("to", "before_from", "to must be after from")
    if end - start > MAX_WINDOW:
        raise ValidationFailed.on(
            "to", "window_too_large", f"a slots query covers at most {MAX_WINDOW.days} days"
        )
    return start, end


async def list_slots(
    session: AsyncSession,
    workspace: Tenant,
    service_uid: str,
    query: SlotQuery,
    now: datetime,
    *,
    customer: Customer | None = None,
    exclude_booking_id: int | None = None,
) -> SlotsOut:
    """Free start times of a service in a window, with the capacity left, in the asked timezone
    (default: the workspace's). A service without settings is open around the clock. A customer
    sees an active service's only (`catalog.get_service`). `exclude_booking_id`: the times a
    booking could be moved to, its own time not counted as taken (as its reschedule is checked)."""
    service = await catalog.get_service(session, workspace.id, service_uid, customer=customer)
    row = await find_settings(session, service.id)
    service_rules = rules_of(row)
    tz = ZoneInfo(workspace.timezone)
    shown = ZoneInfo(query.timezone) if query.timezone else tz
    start, end = window(query, shown, now)
    duration = service.default_duration if query.duration is None else query.duration
    length = timedelta(minutes=duration)
    if service.status != "active":
        found: Sequence[rules.Slot] = []
    else:
        taken = await busy(
            session,
            service.id,
            start,
            end + length,
            service_rules,
            exclude_booking_id=exclude_booking_id,
        )
        found = rules.slots(
            service_rules,
            tz,
            duration=length,
            busy=taken,
            now=now,
            window_start=start,
            window_end=end,
        )
    return SlotsOut(
        service_uid=service.service_uid,
        timezone=shown.key,
        duration=duration,
        data=[
            SlotOut(
                start=s.start.astimezone(shown), end=s.end.astimezone(shown), remaining=s.remaining
            )
            for s in found
        ],
    )


async def day_slots(
    session: AsyncSession,
    workspace: Tenant,
    service_uid: str,
    day: date,
    now: datetime,
    *,
    duration: int | None = None,
    timezone: str | None = None,
    customer: Customer | None = None,
    exclude_booking_id: int | None = None,
) -> SlotsOut:
    """`list_slots` of one day, midnight to midnight in `timezone` (default: the workspace's): the
    free times a page offers for a day picked."""
    asked: dict[str, Any] = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    if duration is not None:
        asked["duration"] = duration
    if timezone is not None:
        asked["timezone"] = timezone
    return await list_slots(
        session,
        workspace,
        service_uid,
        SlotQuery.model_validate(asked),
        now,
        customer=customer,
        exclude_booking_id=exclude_booking_id,
    )


# --- the check a booking passes ----------------------------------------------------------------


async def enforce(
    session: AsyncSession,
    service: BookingService,
    *,
    tz: ZoneInfo,
    start: datetime,
    duration: int,
    now: datetime,
    force: bool,
    exclude_booking_id: int | None = None,
    configured: bool | None = None,
) -> dict[str, Any] | None:
    """Refuse (409 `unavailable`) a booking of `service` at `start` that its availability settings
    do not allow; with `force`, allow it and return what was overridden, for the audit log.

    A service without settings costs one primary-key look-up (none where the caller read whether
    it has settings, `configured`) and is never refused. With settings,
    the check and the caller's insert or update are atomic: on PostgreSQL the service row is locked
    (`FOR NO KEY UPDATE`, which does not block plain bookings' foreign-key checks) until the
    transaction ends, so two requests for the last place queue and the second sees the first's
    booking; on SQLite every writer already holds the one write lock (`BEGIN IMMEDIATE`).
    """
    if configured is None:
        configured = await find_settings(session, service.id) is not None
    if not configured:
        return None
    await session.execute(
        select(BookingService.id)
        .where(BookingService.id == service.id)
        .with_for_update(key_share=True)
    )
    # Read again under the lock: a concurrent change of the settings has committed by now.
    row = await session.scalar(
        select(ServiceAvailability)
        .where(ServiceAvailability.service_id == service.id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        return None
    service_rules = rules_of(row)
    length = timedelta(minutes=duration)
    taken = await busy(
        session,
        service.id,
        start,
        start + length,
        service_rules,
        exclude_booking_id=exclude_booking_id,
    )
    refusal = rules.refusal(service_rules, tz, start=start, duration=length, busy=taken, now=now)
    if refusal is None:
        return None
    if not force:
        raise Unavailable(
            f"booking service {service.service_uid!r} is not available then: {refusal.message}",
            [{"field": "start_time", "code": refusal.code, "message": refusal.message}],
        )
    return {"code": refusal.code, "message": refusal.message}
