"""REST: the scheduler's status, and a preview of when a service's messages would go out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.domain import MessageStatus, Status
from bookd.bookings.models import Booking, BookingMessage
from bookd.bookings.schemas import StartTime
from bookd.catalog import service as catalog
from bookd.catalog.endpoints import UidPath
from bookd.kit.schemas import EARLIEST, UTCTime
from bookd.kit.web import CurrentCaller, Now, Session, UnitOfWorkRoute, errors
from bookd.scheduling import policy
from bookd.scheduling.models import WorkerHeartbeat
from bookd.scheduling.scheduler import STARTABLE
from bookd.workspaces.models import Workspace

router = APIRouter(tags=["scheduler"], route_class=UnitOfWorkRoute)


# A worker that has not ticked for this long is not counted as running.
ALIVE = timedelta(seconds=30)


class Backlog(BaseModel):
    starts: int
    ends: int
    reminders: int
    followups: int


class SchedulerStatus(BaseModel):
    now: UTCTime
    due_backlog: Backlog
    """Items of this workspace whose time has come and that no scheduler has processed yet."""
    oldest_due_at: UTCTime | None
    oldest_lateness_seconds: float | None
    last_tick_at: UTCTime | None
    """The latest tick of any scheduler process."""
    workers_running: int
    """Scheduler processes that ticked in the last 30 seconds (they serve every workspace, so only
    their number is shown here)."""


@router.get("/v1/scheduler/status", response_model=SchedulerStatus, responses=errors())
async def scheduler_status(caller: CurrentCaller, session: Session, now: Now) -> SchedulerStatus:
    return await workspace_status(session, caller.workspace_id, now)


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


def _not_before_earliest(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError(f"start_time must not be before the year {EARLIEST.year}")
    return value


# A start as a booking takes it, but in the past too (its reminders show as skipped): not too far
# back, where a reminder a year before it would fall off the calendar's start (the year 1).
PreviewStart = Annotated[StartTime, AfterValidator(_not_before_earliest)]


class PreviewItem(BaseModel):
    sequence: int
    title: str
    scheduled_at: UTCTime
    status: str
    """`pending` if it would still be to come when the booking is made now, else `skipped`."""


class Preview(BaseModel):
    start_time: UTCTime
    end_time: UTCTime
    timezone: str
    reminders: list[PreviewItem]
    followups: list[PreviewItem]
    """As if the booking is completed at its end time."""


@router.get(
    "/v1/services/{service_uid}/preview",
    response_model=Preview,
    responses=errors(404),
    summary="When this service's reminders and follow-ups would go out, creating nothing",
)
async def preview_schedule(
    service_uid: UidPath,
    start_time: Annotated[
        PreviewStart, Query(description="ISO 8601 with an offset, from the year 2000 to 9000")
    ],
    caller: CurrentCaller,
    session: Session,
    now: Now,
    duration: Annotated[
        int | None, Query(ge=0, le=1000, description="Minutes; the service's default if left out")
    ] = None,
) -> Preview:
    return await preview(session, caller.workspace, service_uid, start_time, now, duration)


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
