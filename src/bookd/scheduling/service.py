"""What the scheduler shows: its backlog and lateness for a workspace, and when a service's
reminders and follow-ups would go out (creating nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import policy
from bookd.bookings.domain import OPEN, MessageStatus, Status
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog import service as catalog
from bookd.catalog.models import BookingService, Template
from bookd.scheduling.models import WorkerHeartbeat
from bookd.scheduling.scheduler import STARTABLE
from bookd.scheduling.schemas import Backlog, Preview, PreviewItem, SchedulerStatus
from bookd.workspaces.models import Workspace

# A worker that has not ticked for this long is not counted as running.
ALIVE = timedelta(seconds=30)


async def workspace_status(
    session: AsyncSession, workspace_id: int, now: datetime
) -> SchedulerStatus:
    """The scheduler's backlog and lateness as one workspace sees it (also the console's)."""
    mine = Booking.workspace_id == workspace_id
    starts = select(func.count(), func.min(Booking.start_time)).where(
        mine, Booking.status.in_(STARTABLE), Booking.start_time <= now
    )
    ends = select(func.count(), func.min(Booking.end_time)).where(
        mine, Booking.status == Status.IN_PROGRESS.value, Booking.end_time <= now
    )
    counts: dict[str, int] = {}
    oldest: list[datetime] = []
    for name, query in (("starts", starts), ("ends", ends)):
        count, first = (await session.execute(query)).one()
        counts[name] = count
        if first is not None:
            oldest.append(first)
    for kind, name in (("reminder", "reminders"), ("followup", "followups")):
        count, first = (
            await session.execute(
                select(func.count(), func.min(BookingMessage.scheduled_at))
                .join(Booking, Booking.id == BookingMessage.booking_id)
                .where(
                    mine,
                    BookingMessage.kind == kind,
                    BookingMessage.status == MessageStatus.PENDING.value,
                    BookingMessage.scheduled_at <= now,
                )
            )
        ).one()
        counts[name] = count
        if first is not None:
            oldest.append(first)
    workers = list(
        (await session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name))).all()
    )
    first_due = min(oldest) if oldest else None
    return SchedulerStatus(
        now=now,
        due_backlog=Backlog(**counts),
        oldest_due_at=first_due,
        oldest_lateness_seconds=(now - first_due).total_seconds() if first_due else None,
        last_tick_at=max((w.last_tick_at for w in workers), default=None),
        workers_running=sum(1 for w in workers if now - w.last_tick_at <= ALIVE),
    )


async def preview(
    session: AsyncSession,
    workspace: Workspace,
    service_uid: str,
    start_time: datetime,
    now: datetime,
    duration: int | None = None,
) -> Preview:
    """When a booking of this service at `start_time` would get its reminders and follow-ups."""
    service = await catalog.get_service(session, workspace.id, service_uid)
    tz_name = workspace.timezone
    tz = ZoneInfo(tz_name)
    start = start_time.astimezone(now.tzinfo).replace(microsecond=0)
    end = start + policy.offset_delta(
        0, 0, service.default_duration if duration is None else duration
    )
    reminders = await catalog.list_templates(session, service, "reminder", active_only=True)
    followups = await catalog.list_templates(session, service, "followup", active_only=True)
    return Preview(
        start_time=start,
        end_time=end,
        timezone=tz_name,
        reminders=[_planned(t, start, now, tz) for t in reminders],
        followups=[_planned(t, end, end, tz) for t in followups],
    )


async def planned_followups(
    session: AsyncSession, tz: ZoneInfo, rows: Iterable[tuple[Booking, BookingService]]
) -> dict[int, list[PreviewItem]]:
    """The follow-ups each open booking of `rows` will get if it is completed (or marked no-show)
    at its end: they are created only then, so until then they are a plan, by booking id."""
    templates: dict[int, list[Template]] = {}
    planned: dict[int, list[PreviewItem]] = {}
    for booking, service in rows:
        if Status(booking.status) not in OPEN:
            continue
        if service.id not in templates:
            templates[service.id] = await catalog.list_templates(
                session, service, "followup", active_only=True
            )
        end = booking.end_time
        planned[booking.id] = [_planned(t, end, end, tz) for t in templates[service.id]]
    return planned


def _planned(
    template: Template, anchor: datetime, reference: datetime, tz: ZoneInfo
) -> PreviewItem:
    """When `template` goes out for a booking anchored at `anchor` (a reminder's start, a
    follow-up's end), and whether it would be pending or already past at `reference`."""
    time_of = policy.reminder_time if template.kind == "reminder" else policy.followup_time
    at = time_of(anchor, days=template.days, hours=template.hours, minutes=template.minutes, tz=tz)
    return PreviewItem(
        sequence=template.sequence,
        title=template.title,
        scheduled_at=at,
        status=policy.initial_status(at, reference).value,
    )
