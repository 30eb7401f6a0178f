"""When is what due: pure functions of times, offsets and a timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookd.bookings.domain import OPEN, MessageStatus, Status

MAX_OFFSET = timedelta(days=365)


def offset_delta(days: int, hours: int, minutes: int) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


def shift(
    anchor: datetime, *, days: int, hours: int, minutes: int, tz: ZoneInfo, sign: int
) -> datetime:
    """`anchor` moved by the offset: `days` as calendar days in `tz`, then hours and minutes elapsed.

    A reminder "1 day before" a 10:00 appointment goes out at 10:00 the day before, also across a
    daylight-saving change. A wall-clock time that does not exist that day (spring forward) is read
    with the offset in force before the change, i.e. moved forward by the gap; one that exists twice
    (fall back) is the first of the two.
    """
    moved = anchor
    if days:
        local = anchor.astimezone(tz).replace(tzinfo=None) + sign * timedelta(days=days)
        moved = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return (moved + sign * timedelta(hours=hours, minutes=minutes)).astimezone(UTC)


def reminder_time(
    start: datetime, *, days: int, hours: int, minutes: int, tz: ZoneInfo
) -> datetime:
    return shift(start, days=days, hours=hours, minutes=minutes, tz=tz, sign=-1)


def followup_time(end: datetime, *, days: int, hours: int, minutes: int, tz: ZoneInfo) -> datetime:
    return shift(end, days=days, hours=hours, minutes=minutes, tz=tz, sign=+1)


def initial_status(scheduled_at: datetime, now: datetime) -> MessageStatus:
    """Pending if still to come, else skipped. `now` itself counts as still to come, so that a
    zero-offset follow-up of an automatic completion (whose `now` is the end time) is sent."""
    return MessageStatus.PENDING if scheduled_at >= now else MessageStatus.SKIPPED


# A `[MANAGE_URL]` link keeps working this long after the booking's last follow-up: a customer
# who reads it days later can still rate the booking.
LINK_MARGIN = timedelta(days=7)


def link_expiry(
    end: datetime, followups: list[tuple[int, int, int]], *, tz: ZoneInfo, now: datetime
) -> datetime:
    """When a `[MANAGE_URL]` link sent at `now` expires: the time of the booking's last follow-up
    (`followups`: the service's active ones as (days, hours, minutes)), or its end if it has none,
    and never before `now`, plus `LINK_MARGIN`."""
    times = [followup_time(end, days=d, hours=h, minutes=m, tz=tz) for d, h, m in followups]
    return max([end, now, *times]) + LINK_MARGIN


def skip_reason(
    *,
    kind: str,
    booking_status: str,
    service_active: bool,
    template_active: bool,
    opted_out: bool,
    scheduled_at: datetime,
    now: datetime,
    stale_window: timedelta,
) -> str | None:
    """Why a due reminder or follow-up is not sent, or None to send it.

    Lateness of exactly the stale window is still sent; a moment more is skipped.
    """
    wanted = OPEN if kind == "reminder" else FOLLOWUP_STATUSES
    if booking_status not in wanted:
        return f"booking is {booking_status}"
    if not service_active:
        return "service is inactive"
    if not template_active:
        return f"{kind} template is inactive or removed"
    if kind == "followup" and opted_out:
        return "bot user opted out of follow-ups"
    if now - scheduled_at > stale_window:
        return f"more than {_describe(stale_window)} late"
    return None


# A follow-up goes out only after the meeting was completed or missed.
FOLLOWUP_STATUSES = frozenset({Status.COMPLETED, Status.NO_SHOW})


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} seconds"
