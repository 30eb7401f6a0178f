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

from collections import Counter, namedtuple
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    any_,
    bindparam,
    func,
    inspect,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bookd.bookings import policy, transitions
from bookd.bookings import service as bookings
from bookd.bookings.domain import OPEN, Action, MessageStatus, Status
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog.models import BookingService, Template
from bookd.kit import changes
from bookd.kit.db import in_ids
from bookd.scheduling import outgoing
from bookd.workspaces.models import BotUser, Workspace

ACTOR = "scheduler"
STARTABLE = (Status.PENDING.value, Status.CONFIRMED.value)
IN_PROGRESS = Status.IN_PROGRESS.value
PENDING = MessageStatus.PENDING.value

# The hot statements are written on the tables, not the ORM classes: a statement that names an
# ORM attribute runs through the ORM's compile and loading steps, which cost more than the query
# itself here.
BOOKING = cast(Table, Booking.__table__).c
MESSAGE = cast(Table, BookingMessage.__table__).c
TEMPLATES = cast(Table, Template.__table__)


def _status_is(column: Any, *values: str) -> ColumnElement[bool]:
    """`status IN ('pending', 'confirmed')` with the values written into the SQL, not bound: only
    then can a planner match the partial indexes' predicates. SQLite plans before it sees bound
    values (and would scan the whole table); PostgreSQL cannot in a generic plan either."""
    # Literal columns, compiled into the cached SQL once: `literal_execute` binds would be
    # rendered into the statement again at every execution.
    quoted: list[ColumnElement[str]] = [literal_column(f"'{value}'") for value in values]
    if len(values) == 1:  # SQLite matches `status = 'x'` to `WHERE status = 'x'`, not `IN ('x')`
        return column == quoted[0]
    return column.in_(quoted)


@dataclass
class BatchResult:
    claimed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    """Processed items by kind: started, ended, inactive, reminder_sent, reminder_skipped, ..."""
    lateness: list[float] = field(default_factory=list)
    """Seconds between each item's due time and `now`."""


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest time anything falls due (for the worker's sleep)."""
    candidates = [await session.scalar(query) for query in _queries(session).next_due]
    times = [c for c in candidates if c is not None]
    return min(times) if times else None


class _Columns:
    """The columns of a model that the fast path reads, and a plain record of them with the ORM
    attribute names (`metadata_json`). A named tuple's fields are plain attribute reads, a
    SQLAlchemy row's are not, and a sent reminder's payload reads dozens of them."""

    def __init__(self, model: Any, **extra: Any) -> None:
        attributes = inspect(model).column_attrs
        self.table = cast(Table, model.__table__)
        self.columns = [a.columns[0].label(a.key) for a in attributes] + [
            column.label(name) for name, column in extra.items()
        ]
        keys = [a.key for a in attributes] + list(extra)
        self.record: Any = namedtuple(f"{model.__name__}Record", keys)  # type: ignore[misc]

    def records(self, rows: Any) -> list[Any]:
        make = self.record._make
        return [make(row) for row in rows]


BOOKINGS = _Columns(Booking)
BOT_USERS = _Columns(BotUser)
SERVICES = _Columns(BookingService)
WORKSPACES = _Columns(Workspace)
# A message with its template's status (None: the template is gone).
MESSAGES = _Columns(BookingMessage, template_status=TEMPLATES.c.status)


class _Queries:
    """The scheduler's statements, built once per dialect with their values bound at execution:
    building a statement and its cache key anew costs here about as much as running it, and
    every round sends these."""

    def __init__(self, dialect: str) -> None:
        now = bindparam("now", type_=BOOKING.start_time.type)
        first = bindparam("candidates", type_=Integer())
        starts = (
            select(BOOKING.id.label("booking_id"), BOOKING.start_time.label("due"))
            .where(_status_is(BOOKING.status, *STARTABLE), BOOKING.start_time <= now)
            .order_by(BOOKING.start_time)
            .limit(first)
        )
        ends = (
            select(BOOKING.id.label("booking_id"), BOOKING.end_time.label("due"))
            .where(_status_is(BOOKING.status, IN_PROGRESS), BOOKING.end_time <= now)
            .order_by(BOOKING.end_time)
            .limit(first)
        )
        messages = (
            select(MESSAGE.booking_id.label("booking_id"), MESSAGE.scheduled_at.label("due"))
            .where(_status_is(MESSAGE.status, PENDING), MESSAGE.scheduled_at <= now)
            .order_by(MESSAGE.scheduled_at)
            .limit(first)
        )
        # Each leg as a subquery: SQLite takes no ORDER BY or LIMIT on a member of a compound.
        merged = union_all(*(leg.subquery().select() for leg in (starts, ends, messages)))
        due = merged.subquery()
        candidates = select(due.c.booking_id).order_by(due.c.due).limit(first)
        self.next_due = [
            select(func.min(BOOKING.start_time)).where(_status_is(BOOKING.status, *STARTABLE)),
            select(func.min(BOOKING.end_time)).where(_status_is(BOOKING.status, IN_PROGRESS)),
            select(func.min(MESSAGE.scheduled_at)).where(_status_is(MESSAGE.status, PENDING)),
        ]
        # The bookings with the earliest due work, claimed in one statement with the search for
        # them: of the first `candidates` by due time, up to `limit` not locked by another
        # worker, locked in id order (the API's lock order too). The candidates' ids do not travel
        # to the worker and back.
        among: ColumnElement[bool] = BOOKING.id.in_(candidates.scalar_subquery())
        if dialect == "postgresql":
            # `= ANY(ARRAY(...))`: the candidates become one value, looked up on the primary key.
            # As `IN (...)` the planner guesses 200 of them and merge-joins the whole key index.
            among = BOOKING.id == any_(func.array(candidates.scalar_subquery()))
        self.claim = (
            select(*BOOKINGS.columns)
            .where(among)
            .order_by(BOOKING.id)
            .limit(bindparam("limit", type_=Integer()))
            .with_for_update(skip_locked=True)
        )
        self.by_id = {
            table: select(*table.columns).where(in_ids(dialect, table.table.c.id))
            for table in (SERVICES, WORKSPACES, BOT_USERS)
        }
        self.messages = (
            select(*MESSAGES.columns)
            .select_from(MESSAGES.table.outerjoin(TEMPLATES, TEMPLATES.c.id == MESSAGE.template_id))
            .where(
                in_ids(dialect, MESSAGE.booking_id),
                MESSAGE.status == PENDING,
                MESSAGE.scheduled_at <= now,
            )
            .order_by(MESSAGE.scheduled_at, MESSAGE.id)
        )


_BUILT: dict[str, _Queries] = {}


def _queries(session: AsyncSession) -> _Queries:
    dialect = session.get_bind().dialect.name
    if dialect not in _BUILT:
        _BUILT[dialect] = _Queries(dialect)
    return _BUILT[dialect]


async def run_batch(
    session: AsyncSession,
    now: datetime,
    *,
    batch_size: int,
    stale_window: timedelta,
    link_base: str | None = None,
) -> BatchResult:
    """Claim up to `batch_size` bookings with due work and process all of it, adding what it
    writes besides to the transaction's change set (written by the transaction's owner).
    `[MANAGE_URL]` links are built under `link_base` (without it, left as written).

    Most due work is a reminder or follow-up of a booking that nothing else happens to: those are
    sent from plain rows, in bulk (the fast path). A booking whose meeting starts or ends, or whose
    service became inactive, goes through the booking service's transitions with ORM objects.
    """
    result = BatchResult()
    queries = _queries(session)
    # Four candidates a place: other workers' (and lanes') claims skip the ones they hold.
    claim = {"now": now, "candidates": batch_size * 4, "limit": batch_size}
    claimed = BOOKINGS.records(await session.execute(queries.claim, claim))
    if not claimed:
        return result
    result.claimed = len(claimed)
    services = await _by_id(session, SERVICES, {b.service_id for b in claimed})
    workspaces = await _by_id(session, WORKSPACES, {b.workspace_id for b in claimed})
    slow = {b.id for b in claimed if _needs_transition(b, services[b.service_id], now)}
    fast = [b for b in claimed if b.id not in slow]
    bot_users = await _by_id(session, BOT_USERS, {b.bot_user_id for b in fast})
    due_rows = await _pending_rows(session, [b.id for b in fast], now)
    out = outgoing.Outgoing(now, link_base=link_base)
    contexts = {
        w.id: bookings.Context(session=session, workspace=w, actor=ACTOR, now=now)
        for w in workspaces.values()
    }
    for b in fast:
        snapshot = outgoing.Snapshot(b, services[b.service_id], bot_users[b.bot_user_id])
        for message in due_rows.get(b.id, []):
            active = message.template_status == "active"
            _send_or_skip(
                contexts[b.workspace_id], snapshot, message, active, stale_window, result, out
            )
    if slow:
        await _transitions(session, sorted(slow), contexts, now, stale_window, result, out)
    out.flush(session)
    return result


def _needs_transition(booking: Any, service: BookingService, now: datetime) -> bool:
    """Whether the booking's due work includes a change of its status: its meeting starts or
    ends, or (its service being inactive) it becomes inactive."""
    if booking.status in STARTABLE and booking.start_time <= now:
        return True
    if booking.status == IN_PROGRESS and booking.end_time <= now:
        return True
    return service.status != "active" and booking.status in OPEN


async def _by_id(session: AsyncSession, table: _Columns, ids: set[int]) -> dict[int, Any]:
    """The services, workspaces or bot users of a batch, as records."""
    rows = await session.execute(_queries(session).by_id[table], {"ids": list(ids)})
    return {record.id: record for record in table.records(rows)}


async def _pending_rows(
    session: AsyncSession, booking_ids: list[int], now: datetime
) -> dict[int, list[Any]]:
    """The due pending messages of the bookings, as rows, in the order they fell due."""
    if not booking_ids:
        return {}
    rows = await session.execute(_queries(session).messages, {"ids": booking_ids, "now": now})
    grouped: dict[int, list[Any]] = {}
    for message in MESSAGES.records(rows):
        grouped.setdefault(message.booking_id, []).append(message)
    return grouped


async def _transitions(
    session: AsyncSession,
    booking_ids: list[int],
    contexts: dict[int, bookings.Context],
    now: datetime,
    stale_window: timedelta,
    result: BatchResult,
    out: outgoing.Outgoing,
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
    out: outgoing.Outgoing,
) -> None:
    """Everything due for one booking, in the order it fell due: a reminder at the start time goes
    out before the meeting starts; a meeting whose start and end both passed starts, then ends.
    Sends and skips go to the change set, written before a transition reads the messages."""
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
        if loaded.service.status != "active":
            await transitions.apply_automatic(ctx, loaded, Action.DEACTIVATE, as_of=due)
            result.counts["inactive"] += 1
            continue
        if kind == "start":
            await transitions.apply_automatic(ctx, loaded, Action.START, as_of=due)
            result.counts["started"] += 1
        else:
            scheduled = await transitions.apply_automatic(ctx, loaded, Action.END, as_of=due)
            result.counts["ended"] += 1
            # Follow-ups the completion just scheduled may be due already (a zero offset).
            if not any(at <= now for at in scheduled):
                continue
            await changes.write(ctx.session)
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
    out: outgoing.Outgoing,
) -> None:
    if message.status != MessageStatus.PENDING.value:
        return  # a transition earlier in this pass skipped or cancelled it
    if loaded.service.status != "active" and loaded.booking.status in OPEN:
        # Anything due for a booking of an inactive service makes the booking inactive, which
        # skips its pending reminders, this one included.
        await transitions.apply_automatic(
            ctx, loaded, Action.DEACTIVATE, as_of=message.scheduled_at
        )
        result.counts["inactive"] += 1
        return
    template = templates.get(message.template_id) if message.template_id is not None else None
    active = template is not None and template.status == "active"
    reason = _send_or_skip(ctx, loaded, message, active, stale_window, result, out)
    # What the change set writes, kept in the ORM object too (not written by the ORM again): a
    # later step of this pass reads it.
    if reason is None:
        set_committed_value(message, "status", MessageStatus.SENT.value)
        set_committed_value(message, "sent_at", ctx.now)
    else:
        set_committed_value(message, "status", MessageStatus.SKIPPED.value)
        set_committed_value(message, "skip_reason", reason)


def _send_or_skip(
    ctx: bookings.Context,
    loaded: outgoing.Sendable,
    message: Any,
    template_active: bool,
    stale_window: timedelta,
    result: BatchResult,
    out: outgoing.Outgoing,
) -> str | None:
    """Send a due message of a booking whose status stays as it is, or skip it; why it was
    skipped, or None."""
    reason = policy.skip_reason(
        kind=message.kind,
        booking_status=loaded.booking.status,
        service_active=loaded.service.status == "active",
        template_active=template_active,
        opted_out=loaded.bot_user.followups_opt_out,
        scheduled_at=message.scheduled_at,
        now=ctx.now,
        stale_window=stale_window,
    )
    result.lateness.append((ctx.now - message.scheduled_at).total_seconds())
    if reason is None:
        outgoing.send_message(ctx, loaded, message, out)
        result.counts[f"{message.kind}_sent"] += 1
    else:
        outgoing.skip_message(ctx, loaded, message, reason, out)
        result.counts[f"{message.kind}_skipped"] += 1
    return reason
