"""Booking reads: one booking with its service and bot user, the lists of bookings, of a booking's
reminders or follow-ups, of the workspace's messages about to go out and of a booking's audit log;
and who acts, where and when (`Context`).

A customer sees its own bot user's bookings only: every read and change of a booking finds it
through `_visible`, so another's booking is a 404 exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import payloads
from bookd.bookings.counts import Facts
from bookd.bookings.domain import MessageStatus
from bookd.bookings.models import Booking, BookingLog, BookingMessage
from bookd.bookings.rows import BookingRow, BotUserRow, ServiceRow
from bookd.bookings.schemas import BookingFilters, BookingOut
from bookd.catalog.models import BookingService, Template
from bookd.kit import changes
from bookd.kit.db import page_after, page_of
from bookd.kit.errors import Forbidden, NotFound
from bookd.workspaces.models import BotUser, Customer, Tenant

REMINDER = "reminder"
FOLLOWUP = "followup"


@dataclass(frozen=True)
class Context:
    """Who acts, where, and when: passed down so that nothing below reads the clock."""

    session: AsyncSession
    workspace: Tenant
    actor: str
    now: datetime
    customer: Customer | None = None
    """Set when a customer token acts: it sees and changes its own bot user's bookings only."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.workspace.timezone)


@dataclass
class Loaded:
    booking: Booking
    service: BookingService
    bot_user: BotUser
    reminders: list[Template] | None = None
    """The service's active reminder templates where already read (a creation reads them with
    the service); otherwise read when reminders are scheduled."""
    counted: Facts | None = None
    """What the booking counts for in the analytics counters, as read before a change to it."""

    def out(self) -> BookingOut:
        return BookingOut.of(self.booking, self.service, self.bot_user)

    def payload(self) -> dict[str, Any]:
        return _payload(self.booking, self.service, self.bot_user)


def _payload(booking: BookingRow, service: ServiceRow, bot_user: BotUserRow) -> dict[str, Any]:
    """An event's `data` about a booking (models, or rows with the models' attribute names)."""
    return {
        "booking": payloads.booking(booking, service, bot_user),
        "service": payloads.service(service),
        "bot_user": payloads.bot_user(bot_user),
        "ics_url": payloads.ics_path(booking.id),
    }


def _joined() -> Any:
    return (
        select(Booking, BookingService, BotUser)
        .join(BookingService, BookingService.id == Booking.service_id)
        .join(BotUser, BotUser.id == Booking.bot_user_id)
    )


def _visible(ctx: Context) -> Any:
    """The bookings `ctx` may see, with their service and bot user: the workspace's, and of
    those a customer's own."""
    query = _joined().where(Booking.workspace_id == ctx.workspace.id)
    if ctx.customer is not None:
        query = query.where(Booking.bot_user_id == ctx.customer.bot_user_id)
    return query


async def load(ctx: Context, booking_id: int, *, lock: bool = False) -> Loaded:
    query = _visible(ctx).where(Booking.id == booking_id)
    if lock:
        # Serialises concurrent actions on one booking (PostgreSQL; SQLite has one writer anyway).
        query = query.with_for_update(of=Booking)
    row = (await ctx.session.execute(query)).first()
    if row is None:
        raise NotFound(f"no booking {booking_id}")
    return Loaded(*row)


async def list_bookings(
    ctx: Context,
    filters: BookingFilters,
    *,
    limit: int,
    after_id: int | None,
    by_start: bool = False,
    after_start: datetime | None = None,
) -> list[Loaded]:
    """A page of the workspace's bookings that match `filters`: in id order after `after_id`, or
    (`by_start`, as people read a diary) in start-time order after (`after_start`, `after_id`)."""
    query = _visible(ctx)
    if filters.bot_user_ns is not None:
        query = query.where(BotUser.ns == filters.bot_user_ns)
    if filters.service_uid is not None:
        query = query.where(BookingService.service_uid == filters.service_uid)
    if filters.status is not None:
        query = query.where(Booking.status == filters.status)
    if filters.start_from is not None:
        query = query.where(Booking.start_time >= filters.start_from)
    if filters.start_to is not None:
        query = query.where(Booking.start_time < filters.start_to)
    if not by_start:
        page = page_of(query, Booking.id, limit=limit, after_id=after_id)
    elif after_start is None or after_id is None:
        page = query.order_by(Booking.start_time, Booking.id).limit(limit)
    else:
        page = page_after(query, (Booking.start_time, Booking.id), (after_start, after_id), limit)
    rows = (await ctx.session.execute(page)).all()
    return [Loaded(*row) for row in rows]


async def list_messages(ctx: Context, booking_id: int, kind: str) -> list[BookingMessage]:
    await changes.write(ctx.session)  # a change of this transaction made or settled them
    await load(ctx, booking_id)
    rows = await ctx.session.scalars(
        select(BookingMessage)
        .where(BookingMessage.booking_id == booking_id, BookingMessage.kind == kind)
        .order_by(BookingMessage.sequence, BookingMessage.id)
    )
    return list(rows.all())


async def pending_messages(
    session: AsyncSession, workspace_id: int, start: datetime, end: datetime, *, limit: int
) -> list[tuple[BookingMessage, int, str, str]]:
    """The workspace's reminders and follow-ups waiting to go out in [`start`, `end`), soonest
    first, each with its booking's id, its service's name and its bot user's ns."""
    query = (
        select(BookingMessage, Booking.id, BookingService.name, BotUser.ns)
        .join(Booking, Booking.id == BookingMessage.booking_id)
        .join(BookingService, BookingService.id == Booking.service_id)
        .join(BotUser, BotUser.id == Booking.bot_user_id)
        .where(
            Booking.workspace_id == workspace_id,
            BookingMessage.status == MessageStatus.PENDING.value,
            BookingMessage.scheduled_at >= start,
            BookingMessage.scheduled_at < end,
        )
        .order_by(BookingMessage.scheduled_at)
        .limit(limit)
    )
    return [(m, booking_id, name, ns) for m, booking_id, name, ns in await session.execute(query)]


async def list_logs(
    ctx: Context, booking_id: int, *, limit: int, after_id: int | None
) -> list[BookingLog]:
    """The booking's audit trail: staff's (it names who did what), not a customer's."""
    if ctx.customer is not None:
        raise Forbidden("a booking's audit log is for staff")
    await load(ctx, booking_id)
    query = select(BookingLog).where(BookingLog.booking_id == booking_id)
    page = page_of(query, BookingLog.id, limit=limit, after_id=after_id)
    return list((await ctx.session.scalars(page)).all())
