"""A booking's .ics, and the workspace's calendar feed with its revocable token.

Flushes only; the caller's unit of work commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.models import Booking
from bookd.calendars import ics
from bookd.calendars.models import CalendarFeed
from bookd.catalog.models import BookingService
from bookd.kit.errors import Unauthorized
from bookd.kit.tokens import hash_key
from bookd.workspaces.models import BotUser, Workspace

# The feed holds bookings from this long ago onwards, at most FEED_LIMIT of them (the earliest
# first): enough for any calendar view a subscriber scrolls back to, bounded for a big workspace.
FEED_PAST = timedelta(days=90)
FEED_LIMIT = 5000
TOKEN_PREFIX = "cal_"


def feed_path(token: str) -> str:
    return f"/v1/feeds/{token}.ics"


def facts(
    workspace_id: int, booking: Booking, service: BookingService, bot_user: BotUser
) -> ics.BookingFacts:
    return ics.BookingFacts(
        workspace_id=workspace_id,
        booking_id=booking.id,
        status=booking.status,
        start_time=booking.start_time,
        end_time=booking.end_time,
        reschedule_count=booking.reschedule_count,
        service_name=service.name,
        contact=bot_user.name or bot_user.ns,
        location=booking.location,
        notes=booking.notes,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


def booking_ics(
    workspace_id: int, booking: Booking, service: BookingService, bot_user: BotUser
) -> bytes:
    return ics.calendar([facts(workspace_id, booking, service, bot_user)])


# --- the feed ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedFeed:
    token: str
    """The only time the token is readable: it is stored hashed."""
    created_at: datetime


async def active_feed(session: AsyncSession, workspace_id: int) -> CalendarFeed | None:
    return await session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.workspace_id == workspace_id, CalendarFeed.revoked_at.is_(None)
        )
    )


async def revoke_feed(session: AsyncSession, workspace_id: int, now: datetime) -> bool:
    """End every subscription made with the workspace's feed URL; False if there was none."""
    result = await session.execute(
        update(CalendarFeed)
        .where(CalendarFeed.workspace_id == workspace_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def issue_feed(session: AsyncSession, workspace_id: int, now: datetime) -> IssuedFeed:
    """A new feed token for the workspace; the previous one, if any, stops working."""
    # The workspace row lock keeps two racing issues from leaving two active tokens.
    await session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()
    )
    await revoke_feed(session, workspace_id, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(CalendarFeed(workspace_id=workspace_id, token_hash=hash_key(token), created_at=now))
    await session.flush()
    return IssuedFeed(token=token, created_at=now)


async def feed_ics(session: AsyncSession, token: str, now: datetime) -> bytes:
    """The workspace's bookings as one calendar, for the holder of its feed token."""
    row = (
        await session.execute(
            select(Workspace)
            .join(CalendarFeed, CalendarFeed.workspace_id == Workspace.id)
            .where(CalendarFeed.token_hash == hash_key(token), CalendarFeed.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        raise Unauthorized("the calendar feed token is not valid")
    workspace: Workspace = row[0]
    rows = (
        await session.execute(
            select(Booking, BookingService, BotUser)
            .join(BookingService, BookingService.id == Booking.service_id)
            .join(BotUser, BotUser.id == Booking.bot_user_id)
            .where(Booking.workspace_id == workspace.id, Booking.start_time >= now - FEED_PAST)
            .order_by(Booking.start_time, Booking.id)
            .limit(FEED_LIMIT)
        )
    ).all()
    return ics.calendar((facts(workspace.id, *r) for r in rows), name=f"bookd: {workspace.name}")
