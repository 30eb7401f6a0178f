"""The overview: today's and upcoming bookings, reminders going out in the next hour, failing
triggers and the scheduler's lateness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Response

from bookd.bookings import queries
from bookd.bookings import service as bookings
from bookd.bookings.schemas import BookingFilters
from bookd.console.web import ConsoleRoute, SignedIn, day_start
from bookd.kit.schemas import MAX_MINUTES
from bookd.scheduling.service import planned_followups, workspace_status
from bookd.webhooks import service as webhooks

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

UPCOMING_DAYS = 7
SHOWN = 50
ENDING = 500


@dataclass(frozen=True)
class Soon:
    """A reminder or follow-up going out within the hour; `planned`: one that will be created
    if its booking is completed at its end."""

    at: datetime
    kind: str
    sequence: int
    title: str
    booking_id: int
    service_name: str
    ns: str
    planned: bool


@router.get("/")
async def overview(page: SignedIn) -> Response:
    ctx = page.context()
    today = page.now.astimezone(page.tz).date()
    today_start, tomorrow = day_start(today, page.tz), day_start(today + timedelta(days=1), page.tz)
    # Upcoming: from now (the rest of today too) to the end of the seventh day after today.
    week_end = day_start(today + timedelta(days=1 + UPCOMING_DAYS), page.tz)

    async def between(start: object, end: object, limit: int = SHOWN) -> list[bookings.Loaded]:
        filters = BookingFilters.model_validate({"start_from": start, "start_to": end})
        return await queries.list_bookings(ctx, filters, limit=limit, after_id=None, by_start=True)

    hour = page.now + timedelta(hours=1)
    messages = await queries.pending_messages(
        page.session, page.workspace_id, page.now, hour, limit=SHOWN
    )
    soon = [
        Soon(m.scheduled_at, m.kind, m.sequence, m.title, booking_id, name, ns, planned=False)
        for m, booking_id, name, ns in messages
    ]
    # Follow-ups of open bookings are created at their end: those ending soon may plan some (a
    # booking lasts at most MAX_MINUTES).
    ending = await between(page.now - timedelta(minutes=MAX_MINUTES), hour, limit=ENDING)
    plans = await planned_followups(page.session, page.tz, [(r.booking, r.service) for r in ending])
    for r in ending:
        soon.extend(
            Soon(p.scheduled_at, "followup", p.sequence, p.title, r.booking.id, r.service.name,
                 r.bot_user.ns, planned=True)
            for p in plans.get(r.booking.id, [])
            if page.now <= p.scheduled_at < hour
        )  # fmt: skip
    soon.sort(key=lambda s: s.at)
    # Failing: disabled by bookd, or with deliveries that failed for good or are being retried.
    failing = await webhooks.failing_triggers(page.session, page.workspace_id)
    return page.render(
        "overview.html",
        title="Overview",
        today=await between(today_start, tomorrow),
        upcoming=await between(page.now, week_end),
        soon=soon[:SHOWN],
        failing=failing,
        scheduler=await workspace_status(page.session, page.workspace_id, page.now),
        upcoming_days=UPCOMING_DAYS,
    )
