"""What the scheduler shows: its backlog and lateness for a workspace, and when a service's
reminders and follow-ups would go out (creating nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import policy
from bookd.bookings.domain import MessageStatus, Status
from bookd.bookings.models import Booking, BookingMessage
from bookd.catalog import service as catalog
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
    items: dict[str, list[PreviewItem]] = {}
    for kind, anchor_of in (("reminder", policy.reminder_time), ("followup", policy.followup_time)):
        anchor = start if kind == "reminder" else end
        reference = now if kind == "reminder" else end
        items[kind] = []
        for template in await catalog.list_templates(session, service, kind, active_only=True):  # type: ignore[arg-type]
            at = anchor_of(
                anchor, days=template.days, hours=template.hours, minutes=template.minutes, tz=tz
            )
            status = policy.initial_status(at, reference)
            items[kind].append(
                PreviewItem(
                    sequence=template.sequence,
                    title=template.title,
                    scheduled_at=at,
                    status=status.value,
                )
            )
    return Preview(
        start_time=start,
        end_time=end,
        timezone=tz_name,
        reminders=items["reminder"],
        followups=items["followup"],
    )
