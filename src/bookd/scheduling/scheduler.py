"""Claim due work and process it, one transaction per batch.

Due work lives in the domain tables themselves (no second copy of the schedule): bookings whose
start or end time is reached, and pending reminders and follow-ups whose time is reached. A batch
claims *bookings* with `FOR UPDATE SKIP LOCKED` and then does everything due for each claimed
booking, in time order. Claiming the booking (never the message row) keeps one lock order with the
API, whose actions also lock the booking first, so workers and requests cannot deadlock, and a
message is only ever changed by whoever holds its booking's lock: exactly once. A worker killed
before COMMIT releases its locks, and another worker claims the same bookings again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bookd.bookings import service as bookings
from bookd.bookings.domain import OPEN, Action, MessageStatus, Status
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog.models import BookingService, Template
from bookd.kit.db import among
from bookd.scheduling import policy
from bookd.workspaces.models import BotUser, Workspace

ACTOR = "scheduler"
STARTABLE = (Status.PENDING.value, Status.CONFIRMED.value)


def _status_is(column: Any, *values: str) -> ColumnElement[bool]:
    """`status IN ('pending', 'confirmed')` with the values written into the SQL, not bound: only
    then can a planner match the partial indexes' predicates. SQLite plans before it sees bound
    values (and would scan the whole table); PostgreSQL cannot in a generic plan either."""
    if len(values) == 1:  # SQLite matches `status = 'x'` to `WHERE status = 'x'`, not `IN ('x')`
        return column == literal(values[0], literal_execute=True)
    return column.in_([literal(value, literal_execute=True) for value in values])


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    """Processed items by kind: started, ended, inactive, reminder_sent, reminder_skipped, ..."""
    lateness: list[float] = field(default_factory=list)
    """Seconds between each item's due time and `now`."""


async def due_booking_ids(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Bookings with something due, earliest first, in one statement: three legs, each riding
    a partial index with its own limit, merged by due time."""
    starts = (
        select(Booking.id.label("booking_id"), Booking.start_time.label("due"))
        .where(_status_is(Booking.status, *STARTABLE), Booking.start_time <= now)
        .order_by(Booking.start_time)
        .limit(limit)
    )
    ends = (
        select(Booking.id.label("booking_id"), Booking.end_time.label("due"))
        .where(_status_is(Booking.status, Status.IN_PROGRESS.value), Booking.end_time <= now)
        .order_by(Booking.end_time)
        .limit(limit)
    )
    messages = (
        select(
            BookingMessage.booking_id.label("booking_id"), BookingMessage.scheduled_at.label("due")
        )
        .where(
            _status_is(BookingMessage.status, MessageStatus.PENDING.value),
            BookingMessage.scheduled_at <= now,
        )
        .order_by(BookingMessage.scheduled_at)
        .limit(limit)
    )
    # Each leg as a subquery: SQLite takes no ORDER BY or LIMIT on a member of a compound select.
    merged = union_all(*(leg.subquery().select() for leg in (starts, ends, messages))).subquery()
    ids = await session.scalars(select(merged.c.booking_id).order_by(merged.c.due).limit(limit))
    return list(dict.fromkeys(ids))  # a booking's earliest due item comes first


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest time anything falls due (for the worker's sleep)."""
    candidates = [
        await session.scalar(
            select(func.min(Booking.start_time)).where(_status_is(Booking.status, *STARTABLE))
        ),
        await session.scalar(
            select(func.min(Booking.end_time)).where(
                _status_is(Booking.status, Status.IN_PROGRESS.value)
            )
        ),
        await session.scalar(
            select(func.min(BookingMessage.scheduled_at)).where(
                _status_is(BookingMessage.status, MessageStatus.PENDING.value)
            )
        ),
    ]
    times = [c for c in candidates if c is not None]
    return min(times) if times else None


# The columns the fast path reads, as rows keyed by the ORM attribute names (`metadata_json`).
BOOKING_COLUMNS = [getattr(Booking, a.key) for a in inspect(Booking).column_attrs]
BOT_USER_COLUMNS = [getattr(BotUser, a.key) for a in inspect(BotUser).column_attrs]
MESSAGE_COLUMNS = [getattr(BookingMessage, a.key) for a in inspect(BookingMessage).column_attrs]


async def run_batch(
    session: AsyncSession, now: datetime, *, batch_size: int, stale_window: timedelta
) -> BatchResult:
    """Claim up to `batch_size` bookings with due work and process all of it. Flushes only.

    Most due work is a reminder or follow-up of a booking that nothing else happens to: those are
    sent from plain rows, in bulk (the fast path). A booking whose meeting starts or ends, or whose
    service became inactive, goes through the booking service's transitions with ORM objects.
    """
    result = BatchResult()
    candidates = await due_booking_ids(session, now, batch_size * 4)
    if not candidates:
        return result
    claimed = (
        await session.execute(
            select(*BOOKING_COLUMNS)
            .where(among(session, Booking.id, candidates))
            .order_by(Booking.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not claimed:
        return result
    result.claimed = len(claimed)
    services = await _by_id(session, BookingService, {b.service_id for b in claimed})
    workspaces = await _by_id(session, Workspace, {b.workspace_id for b in claimed})
    slow = {b.id for b in claimed if _needs_transition(b, services[b.service_id], now)}
    fast = [b for b in claimed if b.id not in slow]
    bot_users = {
        u.id: u
        for u in (
            await session.execute(
                select(*BOT_USER_COLUMNS).where(
                    among(session, BotUser.id, {b.bot_user_id for b in fast})
                )
            )
        ).all()
    }
    due_rows = await _pending_rows(session, [b.id for b in fast], now)
    templates = await _templates_of(
        session, {m.template_id for ms in due_rows.values() for m in ms}
    )
    out = bookings.Outgoing(now)
    contexts = {
        w.id: bookings.Context(session=session, workspace=w, actor=ACTOR, now=now)
        for w in workspaces.values()
    }
    for b in fast:
        snapshot = bookings.Snapshot(b, services[b.service_id], bot_users[b.bot_user_id])
        for message in due_rows.get(b.id, []):
            _send_or_skip(
                contexts[b.workspace_id], snapshot, message, templates, stale_window, result, out
            )
    if slow:
        await _transitions(session, sorted(slow), contexts, now, stale_window, result, out)
    await out.flush(session)
    await session.flush()
    return result


def _needs_transition(booking: Any, service: BookingService, now: datetime) -> bool:
    """Whether the booking's due work includes a change of its status: its meeting starts or
    ends, or (its service being inactive) it becomes inactive."""
    if booking.status in STARTABLE and booking.start_time <= now:
        return True
    if booking.status == Status.IN_PROGRESS.value and booking.end_time <= now:
        return True
    return service.status != "active" and booking.status in OPEN


async def _by_id(session: AsyncSession, model: Any, ids: set[int]) -> dict[int, Any]:
    """The few services or workspaces of a batch, as ORM objects."""
    return {row.id: row for row in await session.scalars(select(model).where(model.id.in_(ids)))}


async def _pending_rows(
    session: AsyncSession, booking_ids: list[int], now: datetime
) -> dict[int, list[Any]]:
    """The due pending messages of the bookings, as rows, in the order they fell due."""
    if not booking_ids:
        return {}
    rows = await session.execute(
        select(*MESSAGE_COLUMNS)
        .where(
            among(session, BookingMessage.booking_id, booking_ids),
            BookingMessage.status == MessageStatus.PENDING.value,
            BookingMessage.scheduled_at <= now,
        )
        .order_by(BookingMessage.scheduled_at, BookingMessage.id)
    )
    grouped: dict[int, list[Any]] = {}
    for message in rows:
        grouped.setdefault(message.booking_id, []).append(message)
    return grouped


async def _transitions(
    session: AsyncSession,
    booking_ids: list[int],
    contexts: dict[int, bookings.Context],
    now: datetime,
    stale_window: timedelta,
    result: BatchResult,
    out: bookings.Outgoing,
) -> None:
    """The bookings whose due work changes their status, with ORM objects (already locked)."""
    rows = (
        await session.execute(
            select(Booking, BookingService, BotUser)
            .join(BookingService, BookingService.id == Booking.service_id)
            .join(BotUser, BotUser.id == Booking.bot_user_id)
            .where(Booking.id.in_(booking_ids))
            .order_by(Booking.id)
        )
    ).all()
    due_messages = await _pending_messages(session, booking_ids, now)
    templates = await _templates_of(
        session, {m.template_id for ms in due_messages.values() for m in ms}
    )
    for booking, service, bot_user in rows:
        loaded = bookings.Loaded(booking, service, bot_user)
        await _process(
            contexts[booking.workspace_id],
            loaded,
            due_messages.get(booking.id, []),
            templates,
            stale_window,
            result,
            out,
        )


async def _pending_messages(
    session: AsyncSession, booking_ids: list[int], now: datetime
) -> dict[int, list[BookingMessage]]:
    rows = await session.scalars(
        select(BookingMessage)
        .where(
            BookingMessage.booking_id.in_(booking_ids),
            BookingMessage.status == MessageStatus.PENDING.value,
            BookingMessage.scheduled_at <= now,
        )
        .order_by(BookingMessage.scheduled_at, BookingMessage.id)
    )
    grouped: dict[int, list[BookingMessage]] = {}
    for message in rows:
        grouped.setdefault(message.booking_id, []).append(message)
    return grouped


async def _templates_of(session: AsyncSession, ids: set[int | None]) -> dict[int, Template]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {t.id: t for t in await session.scalars(select(Template).where(Template.id.in_(wanted)))}


async def _process(
    ctx: bookings.Context,
    loaded: bookings.Loaded,
    messages: list[BookingMessage],
    templates: dict[int, Template],
    stale_window: timedelta,
    result: BatchResult,
    out: bookings.Outgoing,
) -> None:
    """Everything due for one booking, in the order it fell due: a reminder at the start time goes
    out before the meeting starts; a meeting whose start and end both passed starts, then ends.
    Sends and skips are collected in `out`, which is written before any other change."""
    booking = loaded.booking
    now = ctx.now
    # (due time, rank, kind, message): rank orders ties as message < start < end.
    timeline: list[tuple[datetime, int, str, BookingMessage | None]] = [
        (m.scheduled_at, 0, "message", m) for m in messages
    ]
    if booking.status in STARTABLE and booking.start_time <= now:
        timeline.append((booking.start_time, 1, "start", None))
    if booking.end_time <= now and booking.status in (*STARTABLE, Status.IN_PROGRESS.value):
        timeline.append((booking.end_time, 2, "end", None))
    timeline.sort(key=lambda item: (item[0], item[1]))

    while timeline:
        due, _rank, kind, message = timeline.pop(0)
        if kind == "message":
            assert message is not None
            await _deliver(ctx, loaded, message, templates, stale_window, result, out)
            continue
        wanted = Status.IN_PROGRESS.value if kind == "end" else None
        if (wanted and booking.status != wanted) or (
            not wanted and booking.status not in STARTABLE
        ):
            continue
        result.lateness.append((now - due).total_seconds())
        await out.flush(ctx.session)
        if loaded.service.status != "active":
            await bookings.apply_automatic(ctx, loaded, Action.DEACTIVATE, as_of=due)
            result.counts["inactive"] += 1
            continue
        if kind == "start":
            await bookings.apply_automatic(ctx, loaded, Action.START, as_of=due)
            result.counts["started"] += 1
        else:
            await bookings.apply_automatic(ctx, loaded, Action.END, as_of=due)
            result.counts["ended"] += 1
            # Follow-ups the completion just scheduled may be due already (a zero offset).
            fresh = await _pending_messages(ctx.session, [booking.id], now)
            followups = [m for m in fresh.get(booking.id, []) if m.kind == bookings.FOLLOWUP]
            templates.update(await _templates_of(ctx.session, {m.template_id for m in followups}))
            timeline.extend((m.scheduled_at, 0, "message", m) for m in followups)
            timeline.sort(key=lambda item: (item[0], item[1]))


async def _deliver(
    ctx: bookings.Context,
    loaded: bookings.Loaded,
    message: BookingMessage,
    templates: dict[int, Template],
    stale_window: timedelta,
    result: BatchResult,
    out: bookings.Outgoing,
) -> None:
    if message.status != MessageStatus.PENDING.value:
        return  # a transition earlier in this pass skipped or cancelled it
    if loaded.service.status != "active" and loaded.booking.status in OPEN:
        # Anything due for a booking of an inactive service makes the booking inactive, which
        # skips its pending reminders, this one included.
        await out.flush(ctx.session)
        await bookings.apply_automatic(ctx, loaded, Action.DEACTIVATE, as_of=message.scheduled_at)
        result.counts["inactive"] += 1
        return
    reason = _send_or_skip(ctx, loaded, message, templates, stale_window, result, out)
    # What `out.flush()` writes, kept in the ORM object too (not written by the ORM again): a
    # later step of this pass reads it.
    if reason is None:
        set_committed_value(message, "status", MessageStatus.SENT.value)
        set_committed_value(message, "sent_at", ctx.now)
    else:
        set_committed_value(message, "status", MessageStatus.SKIPPED.value)
        set_committed_value(message, "skip_reason", reason)


def _send_or_skip(
    ctx: bookings.Context,
    loaded: bookings.Sendable,
    message: Any,
    templates: dict[int, Template],
    stale_window: timedelta,
    result: BatchResult,
    out: bookings.Outgoing,
) -> str | None:
    """Send a due message of a booking whose status stays as it is, or skip it; why it was
    skipped, or None."""
    template = templates.get(message.template_id) if message.template_id is not None else None
    reason = policy.skip_reason(
        kind=message.kind,
        booking_status=loaded.booking.status,
        service_active=loaded.service.status == "active",
        template_active=template is not None and template.status == "active",
        opted_out=loaded.bot_user.followups_opt_out,
        scheduled_at=message.scheduled_at,
        now=ctx.now,
        stale_window=stale_window,
    )
    result.lateness.append((ctx.now - message.scheduled_at).total_seconds())
    if reason is None:
        bookings.send_message(ctx, loaded, message, out)
        result.counts[f"{message.kind}_sent"] += 1
    else:
        bookings.skip_message(ctx, loaded, message, reason, out)
        result.counts[f"{message.kind}_skipped"] += 1
    return reason
