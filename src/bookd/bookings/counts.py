"""The analytics counters of bookings: their tables, what each booking adds to them (a function
of its row and the workspace's timezone, so that the counters are always the sum of what the
bookings now hold), and their writer.

A change adds what the booking holds after it and takes away what it held before (`Tally.change`).
Facts are counted on the workspace-local day they belong to: a booking's status, rating, lead time,
reschedules and reasons on the day it starts (they move with a reschedule), its creation on the day
it was made, a reminder or follow-up on the day it was due.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.domain import MessageStatus, Status
from bookd.kit import bulk
from bookd.kit.bulk import add_counts
from bookd.kit.db import Base

STATUSES = tuple(s.value for s in Status)
RATINGS = range(6)
# Lead time (start - creation), in minutes: bucket i holds times below LEAD_BOUNDS[i] (and at or
# above the one before); the last, 60 days and more. A median is read to within its bucket.
LEAD_BOUNDS = (60, 180, 360, 720, 1440, 2880, 4320, 10080, 20160, 43200, 86400)
LEADS = range(len(LEAD_BOUNDS) + 1)
MESSAGE_COLUMNS = tuple(
    f"{kind}s_{status}" for kind in ("reminder", "followup") for status in ("sent", "skipped")
)
COUNTED_MESSAGES = frozenset({MessageStatus.SENT.value, MessageStatus.SKIPPED.value})
DAY_COLUMNS = (
    "created",
    *STATUSES,
    "reschedules",
    "rated",
    "rating_sum",
    *(f"rating_{r}" for r in RATINGS),
    *(f"lead_{i}" for i in LEADS),
    "reminded_completed",
    "reminded_no_show",
    *MESSAGE_COLUMNS,
)
REASON_KINDS = ("cancel", "reschedule")
REASON_KEY_LENGTH = 200
# Each workspace's counters are split over a few rows per day, picked by booking, so that
# concurrent changes of one busy service do not all wait for one row's lock.
SHARDS = 4


# The counters: per workspace, service and workspace-local day, kept
# in the transaction of every change. No foreign keys: a counter row outlives nothing it counts
# (a deleted booking has taken its counts away), and a key check per increment would cost.
BOOKING_DAYS = Table(
    "booking_days",
    Base.metadata,
    Column("workspace_id", Integer, nullable=False),
    Column("service_id", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("shard", SmallInteger, nullable=False),
    *(Column(name, Integer, nullable=False, server_default=text("0")) for name in DAY_COLUMNS),
    PrimaryKeyConstraint("workspace_id", "day", "service_id", "shard"),
)
BOOKING_REASONS = Table(
    "booking_reasons",
    Base.metadata,
    Column("workspace_id", Integer, nullable=False),
    Column("service_id", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason_key", String(REASON_KEY_LENGTH), nullable=False),
    Column("reason", String(REASON_KEY_LENGTH), nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("workspace_id", "day", "service_id", "kind", "reason_key"),
)


def reason_key(text: str) -> str:
    """Reasons that differ only in case and spacing are one reason."""
    return " ".join(text.split()).casefold()[:REASON_KEY_LENGTH]


def lead_bucket(created_at: datetime, start_time: datetime) -> int:
    minutes = max(0, int((start_time - created_at).total_seconds() // 60))
    return bisect_right(LEAD_BOUNDS, minutes)


@dataclass(frozen=True)
class Facts:
    """What a booking holds that the counters count (the reminder flag read from its messages)."""

    booking_id: int
    service_id: int
    status: str
    created_at: datetime
    start_time: datetime
    reschedule_count: int
    rating: int | None
    cancel_reason: str | None
    reschedule_reason: str | None
    reminded: bool
    """Whether at least one of its reminders was sent."""

    @classmethod
    def of(cls, booking: Any, *, reminded: bool) -> Facts:
        """From a booking (a model, or a row with its column names)."""
        return cls(
            booking_id=booking.id,
            service_id=booking.service_id,
            status=booking.status,
            created_at=booking.created_at,
            start_time=booking.start_time,
            reschedule_count=booking.reschedule_count,
            rating=booking.rating,
            cancel_reason=booking.cancel_reason,
            reschedule_reason=booking.reschedule_reason,
            reminded=reminded,
        )


DayKey = tuple[int, int, date, int]  # workspace, service, day, shard
ReasonKey = tuple[int, int, date, str, str]  # workspace, service, day, kind, reason key


@dataclass
class Tally:
    """Counter changes gathered in a transaction, written at its end (`bookings.service`)."""

    days: defaultdict[DayKey, defaultdict[str, int]]
    reasons: defaultdict[ReasonKey, int]
    texts: dict[ReasonKey, str]

    @classmethod
    def empty(cls) -> Tally:
        return cls(defaultdict(lambda: defaultdict(int)), defaultdict(int), {})

    def add(self, key: DayKey, column: str, amount: int = 1) -> None:
        self.days[key][column] += amount

    def message(
        self, workspace_id: int, facts_of: tuple[int, int], kind: str, status: str,
        scheduled_at: datetime, tz: ZoneInfo, amount: int = 1,
    ) -> None:  # fmt: skip
        """A reminder or follow-up of booking `facts_of` (id, service id) that became (or, with
        a negative `amount`, stopped being) sent or skipped."""
        if status not in COUNTED_MESSAGES:
            return
        booking_id, service_id = facts_of
        day = scheduled_at.astimezone(tz).date()
        self.add((workspace_id, service_id, day, booking_id % SHARDS), f"{kind}s_{status}", amount)

    def change(
        self, workspace_id: int, before: Facts | None, after: Facts | None, tz: ZoneInfo
    ) -> None:
        """Take away what the booking counted for before the change, add what it counts for now."""
        for facts, sign in ((before, -1), (after, 1)):
            if facts is None:
                continue
            for (service_id, day, column), amount in booking_counts(facts, tz).items():
                key = (workspace_id, service_id, day, facts.booking_id % SHARDS)
                self.add(key, column, sign * amount)
            for (service_id, day, kind, said), amount in booking_reasons(facts, tz).items():
                if not reason_key(said):
                    continue
                reason = (workspace_id, service_id, day, kind, reason_key(said))
                self.reasons[reason] += sign * amount
                self.texts.setdefault(reason, said[:REASON_KEY_LENGTH])

    def merge(self, other: Tally) -> None:
        for key, columns in other.days.items():
            for column, amount in columns.items():
                self.days[key][column] += amount
        for reason, amount in other.reasons.items():
            self.reasons[reason] += amount
        for reason, said in other.texts.items():
            self.texts.setdefault(reason, said)

    def day_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (workspace_id, service_id, day, shard), columns in self.days.items():
            if not any(columns.values()):
                continue
            row = {"workspace_id": workspace_id, "service_id": service_id, "day": day}
            rows.append(row | {"shard": shard} | {c: columns.get(c, 0) for c in DAY_COLUMNS})
        return rows

    def reason_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "workspace_id": workspace_id, "service_id": service_id, "day": day, "kind": kind,
                "reason_key": key, "reason": self.texts[k], "count": amount,
            }
            for k, amount in self.reasons.items()
            if amount
            for workspace_id, service_id, day, kind, key in (k,)
        ]  # fmt: skip


def booking_counts(facts: Facts, tz: ZoneInfo) -> dict[tuple[int, date, str], int]:
    """(service, day, column) → amount: what one booking counts for, its messages aside."""
    service = facts.service_id
    start_day = facts.start_time.astimezone(tz).date()
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    counts[(service, facts.created_at.astimezone(tz).date(), "created")] += 1
    counts[(service, start_day, facts.status)] += 1
    counts[(service, start_day, f"lead_{lead_bucket(facts.created_at, facts.start_time)}")] += 1
    if facts.reschedule_count:
        counts[(service, start_day, "reschedules")] += facts.reschedule_count
    if facts.rating is not None:
        counts[(service, start_day, "rated")] += 1
        counts[(service, start_day, "rating_sum")] += facts.rating
        counts[(service, start_day, f"rating_{facts.rating}")] += 1
    if facts.reminded and facts.status in (Status.COMPLETED.value, Status.NO_SHOW.value):
        counts[(service, start_day, f"reminded_{facts.status}")] += 1
    return counts


def booking_reasons(facts: Facts, tz: ZoneInfo) -> dict[tuple[int, date, str, str], int]:
    """(service, day, kind, text) → 1: the cancellation reason of a cancelled booking and the
    reason of its last reschedule (what the booking holds), on its start day."""
    day = facts.start_time.astimezone(tz).date()
    reasons = {}
    if facts.status == Status.CANCELLED.value and facts.cancel_reason:
        reasons[(facts.service_id, day, "cancel", facts.cancel_reason)] = 1
    if facts.reschedule_reason:
        reasons[(facts.service_id, day, "reschedule", facts.reschedule_reason)] = 1
    return reasons


async def write(session: AsyncSession, tally: Tally, *, later: bool = False) -> None:
    """Add what `tally` gathered to the counters (in the caller's transaction): once, at its end,
    so that concurrent transactions take the counter rows' locks in one order (`add_counts`
    sorts them) and hold no other lock waited for after them. `later`: queued with the change
    set's other inserts (`kit.bulk.add_counts_later`), written in the same round trip."""
    if later:
        bulk.add_counts_later(session, BOOKING_DAYS, tally.day_rows())
        bulk.add_counts_later(session, BOOKING_REASONS, tally.reason_rows(), labels=("reason",))
        return
    await add_counts(session, BOOKING_DAYS, tally.day_rows())
    await add_counts(session, BOOKING_REASONS, tally.reason_rows(), labels=("reason",))
