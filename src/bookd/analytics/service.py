"""The analytics report, read from the counters the changes keep (`bookings.counts`,
`webhooks.counts`): a year by week is a few thousand counter rows, whatever the bookings number.
And `rebuild`, which makes the counters again from the bookings, their messages and deliveries."""

from __future__ import annotations

import calendar
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.analytics.schemas import (
    MAX_PERIODS,
    AnalyticsOut,
    AnalyticsQuery,
    Granularity,
    Reason,
    Row,
)
from bookd.bookings import counts
from bookd.bookings.counts import BOOKING_DAYS, BOOKING_REASONS
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog.models import BookingService
from bookd.catalog.service import get_service
from bookd.kit.bulk import add_counts
from bookd.kit.errors import ValidationFailed
from bookd.webhooks import counts as delivery_counts
from bookd.webhooks.models import DELIVERY_DAYS, Delivery
from bookd.webhooks.repository import last_success_latency
from bookd.workspaces.models import Tenant

TOP_REASONS = 3
DEFAULT_DAYS = 90
# The key the whole range's sums are kept under, beside each period's.
RANGE = date.min
Totals = defaultdict[str, int]


@functools.cache
def period_start(day: date, granularity: Granularity) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def period_end(start: date, granularity: Granularity) -> date:
    if granularity == "week":
        return start + timedelta(days=6)
    if granularity == "month":
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start


def median_of(buckets: Sequence[int], bounds: Sequence[int]) -> float | None:
    """The median of values counted in `buckets` (bucket i: below bounds[i], at or above the one
    before; the last open-ended), interpolated within its bucket."""
    total = sum(buckets)
    if not total:
        return None
    half, seen = total / 2, 0
    for i, count in enumerate(buckets):
        if count and seen + count >= half:
            low = bounds[i - 1] if i else 0
            high = bounds[i] if i < len(bounds) else low * 2
            return round(low + (high - low) * (half - seen) / count, 1)
        seen += count
    return None  # pragma: no cover - the loop returns once half the total is seen


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def report(
    session: AsyncSession, workspace: Tenant, query: AnalyticsQuery, now: datetime
) -> AnalyticsOut:
    tz = ZoneInfo(workspace.timezone)
    today = now.astimezone(tz).date()
    end = query.end or today
    start = query.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise ValidationFailed.on("from", "invalid_range", "from must not be after to")
    grain = query.granularity
    first, last = period_start(start, grain), period_end(period_start(end, grain), grain)
    periods = _periods(first, last, grain)
    if len(periods) > MAX_PERIODS:
        raise ValidationFailed.on(
            "granularity", "too_many_periods",
            f"{len(periods)} periods: at most {MAX_PERIODS} (choose a longer granularity)",
        )  # fmt: skip
    service_id = None
    if query.service_uid is not None:
        service_id = (await get_service(session, workspace.id, query.service_uid)).id
    services = dict(
        (await session.execute(
            select(BookingService.id, BookingService.service_uid).where(
                BookingService.workspace_id == workspace.id
            )
        )).all()
    )  # fmt: skip
    days = await _day_totals(session, workspace.id, first, last, service_id, grain)
    reasons = await _reasons(session, workspace.id, first, last, service_id, grain)
    deliveries = await _delivery_totals(session, workspace.id, first, last, grain)

    def row(at: date, sid: int | None, start: date, end: date) -> Row:
        return _row(
            start,
            end,
            None if sid is None else services.get(sid, str(sid)),
            days.get((at, sid), defaultdict(int)),
            reasons.get((at, sid), {}),
            deliveries.get(at, defaultdict(int)) if sid is None else None,
        )

    services_in: dict[date, list[int]] = {}
    for period, sid in sorted(days, key=lambda k: (k[0], k[1] or 0)):
        if sid is not None:
            services_in.setdefault(period, []).append(sid)
    rows: list[Row] = []
    for period in periods:
        for sid in ([None] if service_id is None else []) + services_in.get(period, []):
            rows.append(row(period, sid, period, period_end(period, grain)))
    return AnalyticsOut(
        start=first,
        end=last,
        granularity=grain,
        timezone=workspace.timezone,
        lead_time_buckets=list(counts.LEAD_BOUNDS),
        rows=rows,
        total=row(RANGE, service_id, first, last),
    )


def _periods(first: date, last: date, grain: Granularity) -> list[date]:
    periods: list[date] = []
    period = first
    while period <= last and len(periods) <= MAX_PERIODS:
        periods.append(period)
        period = period_end(period, grain) + timedelta(days=1)
    return periods


async def _day_totals(
    session: AsyncSession, workspace_id: int, first: date, last: date, service_id: int | None,
    grain: Granularity,
) -> dict[tuple[date, int | None], Totals]:  # fmt: skip
    """Counter sums by (period, service) and (period, None) for every service together; the
    whole range's under `RANGE`."""
    t = BOOKING_DAYS.c
    query = (
        select(t.service_id, t.day, *(func.sum(t[c]).label(c) for c in counts.DAY_COLUMNS))
        .where(t.workspace_id == workspace_id, t.day >= first, t.day <= last)
        .group_by(t.service_id, t.day)
    )
    if service_id is not None:
        query = query.where(t.service_id == service_id)
    # Summed by period first (a year by day is hundreds of rows a service), then rolled up.
    by_period: dict[tuple[date, int], list[int]] = {}
    for sid, day, *sums in await session.execute(query):
        key = (period_start(day, grain), sid)
        into = by_period.get(key)
        by_period[key] = sums if into is None else [a + b for a, b in zip(into, sums, strict=True)]
    rolled: dict[tuple[date, int | None], list[int]] = {}
    for (period, sid), sums in by_period.items():
        for key in ((period, sid), (period, None), (RANGE, sid), (RANGE, None)):
            into = rolled.get(key)
            rolled[key] = sums if into is None else [a + b for a, b in zip(into, sums, strict=True)]
    return {
        key: defaultdict(int, zip(counts.DAY_COLUMNS, sums, strict=True))
        for key, sums in rolled.items()
    }


async def _reasons(
    session: AsyncSession, workspace_id: int, first: date, last: date, service_id: int | None,
    grain: Granularity,
) -> dict[tuple[date, int | None], dict[str, dict[str, list[Any]]]]:  # fmt: skip
    t = BOOKING_REASONS.c
    query = (
        select(t.service_id, t.day, t.kind, t.reason_key, func.min(t.reason), func.sum(t.count))
        .where(t.workspace_id == workspace_id, t.day >= first, t.day <= last)
        .group_by(t.service_id, t.day, t.kind, t.reason_key)
    )
    if service_id is not None:
        query = query.where(t.service_id == service_id)
    by_period: dict[tuple[date, int], dict[tuple[str, str], list[Any]]] = {}
    for sid, day, kind, key, text, count in await session.execute(query):
        entry = by_period.setdefault((period_start(day, grain), sid), {}).get((kind, key))
        if entry is None:
            by_period[(period_start(day, grain), sid)][(kind, key)] = [text, count]
        else:
            entry[1] += count
    found: dict[tuple[date, int | None], dict[str, dict[str, list[Any]]]] = {}
    for (period, sid), reasons in by_period.items():
        for at in ((period, sid), (period, None), (RANGE, sid), (RANGE, None)):
            into = found.setdefault(at, {})
            for (kind, key), (text, count) in reasons.items():
                into.setdefault(kind, {}).setdefault(key, [text, 0])[1] += count
    return found


async def _delivery_totals(
    session: AsyncSession, workspace_id: int, first: date, last: date, grain: Granularity
) -> dict[date, Totals]:
    t = DELIVERY_DAYS.c
    query = (
        select(t.day, *(func.sum(t[c]).label(c) for c in delivery_counts.DAY_COLUMNS))
        .where(t.workspace_id == workspace_id, t.day >= first, t.day <= last)
        .group_by(t.day)
    )
    totals: dict[date, Totals] = {}
    for row in (await session.execute(query)).mappings():
        for period in (period_start(row["day"], grain), RANGE):
            into = totals.setdefault(period, defaultdict(int))
            for column in delivery_counts.DAY_COLUMNS:
                into[column] += row[column] or 0
    return totals


def _top(found: Mapping[str, list[Any]]) -> list[Reason]:
    ranked = sorted(
        ((count, text) for text, count in found.values() if count > 0), key=lambda x: (-x[0], x[1])
    )
    return [Reason(reason=text, count=count) for count, text in ranked[:TOP_REASONS]]


def _row(
    start: date, end: date, service_uid: str | None, c: Totals,
    reasons: Mapping[str, Mapping[str, list[Any]]], d: Totals | None,
) -> Row:  # fmt: skip
    decided = c["completed"] + c["no_show"] + c["cancelled"] + c["inactive"]
    held = c["completed"] + c["no_show"]
    reminded = c["reminded_completed"] + c["reminded_no_show"]
    bookings = sum(c[s] for s in counts.STATUSES)
    leads = [c[f"lead_{i}"] for i in counts.LEADS]
    return Row(
        period_start=start,
        period_end=end,
        service_uid=service_uid,
        created=c["created"],
        bookings=bookings,
        **{s: c[s] for s in counts.STATUSES},
        completion_rate=_rate(c["completed"], decided),
        cancellation_rate=_rate(c["cancelled"], decided),
        no_show_rate=_rate(c["no_show"], held),
        reschedules_per_booking=_rate(c["reschedules"], bookings),
        median_lead_time_minutes=median_of(leads, counts.LEAD_BOUNDS),
        rating_average=round(c["rating_sum"] / c["rated"], 2) if c["rated"] else None,
        ratings={str(r): c[f"rating_{r}"] for r in counts.RATINGS},
        reminders_sent=c["reminders_sent"],
        reminders_skipped=c["reminders_skipped"],
        followups_sent=c["followups_sent"],
        followups_skipped=c["followups_skipped"],
        no_show_rate_with_reminder=_rate(c["reminded_no_show"], reminded),
        no_show_rate_without_reminder=_rate(c["no_show"] - c["reminded_no_show"], held - reminded),
        top_cancel_reasons=_top(reasons.get("cancel", {})),
        top_reschedule_reasons=_top(reasons.get("reschedule", {})),
        deliveries_succeeded=d["succeeded"] if d is not None else None,
        deliveries_failed=d["failed"] if d is not None else None,
        median_delivery_latency_ms=median_of(
            [d[f"latency_{i}"] for i in delivery_counts.LATENCIES], delivery_counts.LATENCY_BOUNDS
        ) if d is not None else None,
    )  # fmt: skip


# --- making the counters again -------------------------------------------------------------------


async def rebuild(session: AsyncSession, workspace: Tenant) -> int:
    """The workspace's counters made again from what its bookings, their messages and its
    deliveries hold now (after an upgrade, or a change of the workspace's timezone); the bookings
    counted. Streams the bookings and writes the counters once, at the end (they are a few rows a
    day); one transaction."""
    tz = ZoneInfo(workspace.timezone)
    for table in (BOOKING_DAYS, BOOKING_REASONS, DELIVERY_DAYS):
        await session.execute(delete(table).where(table.c.workspace_id == workspace.id))
    tally = counts.Tally.empty()
    counted = 0
    rows = await session.stream(
        select(*FACT_COLUMNS).where(Booking.workspace_id == workspace.id).order_by(Booking.id)
        .execution_options(yield_per=5000)
    )  # fmt: skip
    async for batch in rows.partitions():
        messages = await _messages_of(session, [b.id for b in batch])
        for booking in batch:
            mine = messages.get(booking.id, [])
            tally.change(workspace.id, None, facts_of(booking, mine), tz)
            for kind, status, at in mine:
                tally.message(workspace.id, (booking.id, booking.service_id), kind, status, at, tz)
        counted += len(batch)
    await counts.write(session, tally)
    await add_counts(session, DELIVERY_DAYS, await _delivery_rows(session, workspace.id, tz))
    return counted


# What `facts_of` reads of a booking: its row's columns, no ORM object.
FACT_COLUMNS = (
    Booking.id,
    Booking.service_id,
    Booking.status,
    Booking.created_at,
    Booking.start_time,
    Booking.reschedule_count,
    Booking.rating,
    Booking.cancel_reason,
    Booking.reschedule_reason,
)


def facts_of(booking: Any, messages: Iterable[tuple[str, str, datetime]]) -> counts.Facts:
    """A booking row's facts, the reminder flag from its messages (kind, status, due)."""
    reminded = any(k == "reminder" and s == "sent" for k, s, _ in messages)
    return counts.Facts.of(booking, reminded=reminded)


async def _messages_of(
    session: AsyncSession, booking_ids: list[int]
) -> dict[int, list[tuple[str, str, datetime]]]:
    m = BookingMessage
    rows = await session.execute(
        select(m.booking_id, m.kind, m.status, m.scheduled_at).where(
            m.booking_id.in_(booking_ids), m.status.in_(counts.COUNTED_MESSAGES)
        )
    )
    found: dict[int, list[tuple[str, str, datetime]]] = {}
    for booking_id, kind, status, at in rows:
        found.setdefault(booking_id, []).append((kind, status, at))
    return found


async def _delivery_rows(
    session: AsyncSession, workspace_id: int, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Each ended delivery: succeeded (with its last succeeded attempt's latency) or failed."""
    d = Delivery
    mine = select(d.id).where(d.workspace_id == workspace_id)
    last = last_success_latency(mine).subquery()
    rows = await session.execute(
        select(d.id, d.status, d.updated_at, last.c.latency_ms)
        .outerjoin(last, last.c.delivery_id == d.id)
        .where(d.workspace_id == workspace_id, d.status.in_(("succeeded", "failed")))
    )
    totals: dict[tuple[int, date, int], dict[str, int]] = {}
    for delivery_id, status, ended_at, latency in rows:
        key = (workspace_id, ended_at.astimezone(tz).date(), delivery_id % delivery_counts.SHARDS)
        into = totals.setdefault(key, {})
        for column in delivery_counts.columns_of(status, latency or 0):
            into[column] = into.get(column, 0) + 1
    return delivery_counts.rows(totals)
