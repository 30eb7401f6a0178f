"""The overview: today's and upcoming bookings, reminders going out in the next hour, failing
triggers and the scheduler's lateness."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import func, or_, select

from bookd.bookings import queries
from bookd.bookings import service as bookings
from bookd.bookings.domain import MessageStatus
from bookd.bookings.models import Booking, BookingMessage
from bookd.bookings.schemas import BookingFilters
from bookd.catalog.models import BookingService
from bookd.console.web import ConsoleRoute, SignedIn, day_start
from bookd.scheduling.service import workspace_status
from bookd.webhooks.models import Delivery, Trigger
from bookd.workspaces.models import BotUser

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

UPCOMING_DAYS = 7
SHOWN = 50


@router.get("/")
async def overview(page: SignedIn) -> Response:
    ctx = page.context()
    today = page.now.astimezone(page.tz).date()
    today_start, tomorrow = day_start(today, page.tz), day_start(today + timedelta(days=1), page.tz)
    week_end = day_start(today + timedelta(days=1 + UPCOMING_DAYS), page.tz)

    async def between(start: object, end: object) -> list[bookings.Loaded]:
        filters = BookingFilters.model_validate({"start_from": start, "start_to": end})
        rows = await queries.list_bookings(ctx, filters, limit=500, after_id=None)
        return sorted(rows, key=lambda r: r.booking.start_time)[:SHOWN]

    soon = (
        await page.session.execute(
            select(BookingMessage, Booking.id, BookingService.name, BotUser.ns)
            .join(Booking, Booking.id == BookingMessage.booking_id)
            .join(BookingService, BookingService.id == Booking.service_id)
            .join(BotUser, BotUser.id == Booking.bot_user_id)
            .where(
                Booking.workspace_id == page.workspace_id,
                BookingMessage.status == MessageStatus.PENDING.value,
                BookingMessage.scheduled_at >= page.now,
                BookingMessage.scheduled_at < page.now + timedelta(hours=1),
            )
            .order_by(BookingMessage.scheduled_at)
            .limit(SHOWN)
        )
    ).all()
    # Failing: disabled by bookd, or with deliveries that failed for good or are being retried.
    failing = (
        await page.session.execute(
            select(Trigger, func.count(Delivery.id))
            .outerjoin(
                Delivery,
                (Delivery.trigger_id == Trigger.id)
                & (
                    (Delivery.status == "failed")
                    | ((Delivery.status == "pending") & (Delivery.attempts > 0))
                ),
            )
            .where(Trigger.workspace_id == page.workspace_id)
            .group_by(Trigger.id)
            .having(or_(func.count(Delivery.id) > 0, Trigger.status == "disabled"))
            .order_by(Trigger.id)
        )
    ).all()
    return page.render(
        "overview.html",
        title="Overview",
        today=await between(today_start, tomorrow),
        upcoming=await between(tomorrow, week_end),
        soon=soon,
        failing=failing,
        scheduler=await workspace_status(page.session, page.workspace_id, page.now),
        upcoming_days=UPCOMING_DAYS,
    )
