"""When a service can be booked: pure functions of its rules, its bookings, a timezone and `now`.

Nothing here reads the clock or the database. Opening hours are wall-clock times in the
workspace's timezone; everything else is UTC instants. Slots are laid out in elapsed time from the
start of each opening range, so a range that spans a daylight-saving change yields no slot at a
wall-clock time that does not exist and no instant twice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
# A zero-length booking still takes its start instant: otherwise any number of them would fit
# into a capacity of one.
INSTANT = timedelta(seconds=1)
# The slot interval when neither the service nor the duration gives one (a 0-minute booking).
FALLBACK_INTERVAL = timedelta(minutes=15)

Range = tuple[int, int]  # minutes after local midnight, [start, end), end at most 24:00
Interval = tuple[datetime, datetime]  # UTC instants, [start, end)


@dataclass(frozen=True)
class Rules:
    """A service's availability settings.

    `weekly` maps a weekday (0 = Monday) to its opening ranges; a weekday that is missing is
    closed; `weekly=None` means open around the clock. `overrides` replace the weekly ranges on a
    date (an empty tuple closes it). `capacity=None` is unlimited.
    """

    weekly: Mapping[int, tuple[Range, ...]] | None = None
    overrides: Mapping[date, tuple[Range, ...]] = field(default_factory=dict)
    capacity: int | None = None
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    min_notice: timedelta = timedelta(0)
    horizon: timedelta | None = None
    interval: timedelta | None = None

    def step(self, duration: timedelta) -> timedelta:
        return self.interval or (duration if duration > timedelta(0) else FALLBACK_INTERVAL)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    remaining: int | None  # None: unlimited


@dataclass(frozen=True)
class Refusal:
    """Why a booking cannot take a time: `code` for machines, `message` for people."""

    code: str
    message: str


def ranges_on(rules: Rules, day: date) -> tuple[Range, ...]:
    if day in rules.overrides:
        return rules.overrides[day]
    if rules.weekly is None:
        return ((0, MINUTES_PER_DAY),)
    return rules.weekly.get(day.weekday(), ())


def wall_to_utc(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """A wall-clock time of `day` in `tz` as a UTC instant, by the rule the reminders use: a time
    that does not exist (spring forward) moves forward by the gap, one that exists twice (fall
    back) is the first of the two."""
    local = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def open_intervals(rules: Rules, tz: ZoneInfo, start: datetime, end: datetime) -> list[Interval]:
    """The opening hours that touch [start, end), as merged UTC intervals (ranges that meet, such
    as 09:00-12:00 and 12:00-17:00 or Monday to 24:00 and Tuesday from 00:00, become one)."""
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    pieces: list[Interval] = []
    day = first
    while day <= last:
        for a, b in ranges_on(rules, day):
            lo, hi = wall_to_utc(day, a, tz), wall_to_utc(day, b, tz)
            if lo < hi and hi > start and lo < end:
                pieces.append((lo, hi))
        day += timedelta(days=1)
    pieces.sort()
    merged: list[Interval] = []
    for lo, hi in pieces:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


class Occupancy:
    """How many bookings (with their buffers) take each moment: a step function, built once from
    the service's bookings, answering "the most at once within [a, b)" by bisection."""

    def __init__(self, busy: Iterable[Interval], rules: Rules) -> None:
        changes: dict[datetime, int] = {}
        for start, end in busy:
            lo, hi = padded(start, end, rules)
            changes[lo] = changes.get(lo, 0) + 1
            changes[hi] = changes.get(hi, 0) - 1
        self.times: list[datetime] = sorted(changes)
        self.levels: list[int] = []
        level = 0
        for moment in self.times:
            level += changes[moment]
            self.levels.append(level)

    def most(self, start: datetime, end: datetime) -> int:
        """The largest number of bookings that overlap [start, end) at one moment."""
        first = bisect_right(self.times, start) - 1
        last = bisect_left(self.times, end) - 1
        if last < 0:
            return 0
        return max(self.levels[max(first, 0) : last + 1])


def padded(start: datetime, end: datetime, rules: Rules) -> Interval:
    """The time a booking keeps from others: its own, at least an instant, and its buffers. Two
    bookings conflict when these overlap, so consecutive bookings are at least `buffer_after +
    buffer_before` apart."""
    return start - rules.buffer_before, max(end, start + INSTANT) + rules.buffer_after


def _remaining(rules: Rules, occupancy: Occupancy, start: datetime, end: datetime) -> int | None:
    if rules.capacity is None:
        return None
    return rules.capacity - occupancy.most(*padded(start, end, rules))


def _bounds(rules: Rules, now: datetime) -> tuple[datetime, datetime | None]:
    """The earliest start still accepted (strictly after `now`) and the latest one, if any."""
    earliest = now + rules.min_notice
    return earliest, (now + rules.horizon if rules.horizon is not None else None)


def slots(
    rules: Rules,
    tz: ZoneInfo,
    *,
    duration: timedelta,
    busy: Iterable[Interval],
    now: datetime,
    window_start: datetime,
    window_end: datetime,
) -> list[Slot]:
    """The free start times in [window_start, window_end), with the capacity left at each.

    A slot starts at the start of an opening range or a whole number of intervals after it; the
    booking (not its buffers) must end within the same range.
    """
    occupancy = Occupancy(busy, rules)
    earliest, latest = _bounds(rules, now)
    step = rules.step(duration)
    found: list[Slot] = []
    for lo, hi in open_intervals(rules, tz, window_start, window_end):
        start = lo
        if start < window_start:
            start = lo + step * -(-(window_start - lo) // step)  # first grid point in the window
        while start < window_end and start + duration <= hi:
            if latest is not None and start > latest:
                return found
            if start > now and start >= earliest:
                left = _remaining(rules, occupancy, start, start + duration)
                if left is None or left > 0:
                    found.append(Slot(start, start + duration, left))
            start += step
    return found


def refusal(
    rules: Rules,
    tz: ZoneInfo,
    *,
    start: datetime,
    duration: timedelta,
    busy: Sequence[Interval],
    now: datetime,
) -> Refusal | None:
    """Why a booking of `duration` at `start` is not available, or None when it is.

    Any start inside the opening hours is accepted, not only the slots' grid: the grid is what is
    offered, not what staff may book.
    """
    end = start + duration
    earliest, latest = _bounds(rules, now)
    if start < earliest:
        return Refusal("too_soon", f"bookings need {_minutes(rules.min_notice)} of notice")
    if latest is not None and start > latest:
        return Refusal("too_far_ahead", f"bookings are taken at most {_days(rules.horizon)} ahead")
    inside = any(
        lo <= start and end <= hi
        for lo, hi in open_intervals(rules, tz, start, max(end, start + INSTANT))
    )
    if not inside:
        return Refusal("outside_hours", "the time is outside the service's opening hours")
    left = _remaining(rules, Occupancy(busy, rules), start, end)
    if left is not None and left <= 0:
        return Refusal(
            "fully_booked",
            f"the time is fully booked (capacity {rules.capacity}, buffers included)",
        )
    return None


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _days(delta: timedelta | None) -> str:
    days = delta.days if delta is not None else 0
    return f"{days} day{'s' if days != 1 else ''}"
