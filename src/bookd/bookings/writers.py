"""The writers of what a booking change adds to its transaction's change set (`kit.changes`):
audit rows, message status changes and counter changes. (Events have theirs in
`webhooks.relay.write_events`, the schedulers' wake-up in `kit.wakeup`.)

Every door's change adds rows here the same way (`bookings.service._apply` for a transition,
`scheduling.outgoing` for a reminder sent or skipped), and the owner of the transaction writes
them once, before it commits, in bulk and in the kinds' order: message updates, audit rows,
events, customer tokens, counters, wake-up. The counters come last: concurrent transactions
then hold their counter rows' locks for the shortest time, taken in one order (`add_counts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import counts
from bookd.bookings.domain import MessageStatus
from bookd.bookings.models import BookingLog, BookingMessage
from bookd.events.payloads import dumps
from bookd.kit import bulk, changes
from bookd.kit.db import in_ids

LOGS = cast(Table, BookingLog.__table__)
MESSAGES = cast(Table, BookingMessage.__table__)


# --- audit rows --------------------------------------------------------------------------------


def log_row(
    actor: str,
    now: datetime,
    booking_id: int,
    action: str,
    old_status: str | None,
    new_status: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    """One audit row: who did what to the booking, from which status to which, with details."""
    return {
        "booking_id": booking_id,
        "action": action,
        "actor": actor,
        "old_status": old_status,
        "new_status": new_status,
        "details": dumps(details),
        "created_at": now,
    }


async def write_logs(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The audit rows' writer: only ever appended, in one statement (with the change set's other
    inserts, `kit.bulk.insert_later`), no ORM objects."""
    bulk.insert_later(session, LOGS, rows)


AUDIT = changes.Kind("audit rows", 20, write_logs)


# --- message status changes --------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    message_id: int
    at: datetime
    booking_id: int


@dataclass(frozen=True)
class Skipped:
    message_id: int
    reason: str
    booking_id: int


@dataclass(frozen=True)
class Settled:
    """A transition's end of a booking's pending `kind` messages: each becomes `status`
    (skipped, cancelled) for `reason`; counted as it is written."""

    booking_id: int
    service_id: int
    workspace_id: int
    tz: ZoneInfo
    kind: str
    status: str
    reason: str


_SKIP = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(status=MessageStatus.SKIPPED.value, skip_reason=bindparam("reason"))
)


async def write_message_updates(
    session: AsyncSession, updates: Sequence[Sent | Skipped | Settled]
) -> None:
    """The message status changes' writer: the sent ones in one statement per send time, the
    skipped ones in one statement for all, each settled booking's in one statement that returns
    what it changed, for the counters."""
    dialect = session.get_bind().dialect.name
    sent: dict[datetime, list[int]] = {}
    skipped: list[dict[str, Any]] = []
    tally = counts.Tally.empty()
    for change in updates:
        if isinstance(change, Sent):
            sent.setdefault(change.at, []).append(change.message_id)
        elif isinstance(change, Skipped):
            skipped.append({"message_id": change.message_id, "reason": change.reason})
        else:
            await _settle(session, change, tally)
    for sent_at, ids in sent.items():
        await session.execute(
            update(MESSAGES)
            .where(in_ids(dialect, MESSAGES.c.id))
            .values(status=MessageStatus.SENT.value, sent_at=sent_at),
            {"ids": ids},
        )
    if skipped:
        await session.execute(_SKIP, skipped)
    if tally.days:
        changes.of(session).add(COUNTERS, tally)


async def _settle(session: AsyncSession, settled: Settled, tally: counts.Tally) -> None:
    # On the mapped class: the session's message objects (the scheduler's) learn the new status.
    m = BookingMessage
    changed = await session.execute(
        update(m)
        .where(
            m.booking_id == settled.booking_id,
            m.kind == settled.kind,
            m.status == MessageStatus.PENDING.value,
        )
        .values(status=settled.status, skip_reason=settled.reason)
        .returning(m.scheduled_at)
    )
    booking = (settled.booking_id, settled.service_id)
    for (at,) in changed:
        tally.message(settled.workspace_id, booking, settled.kind, settled.status, at, settled.tz)


def updates_pending(session: AsyncSession, booking_id: int) -> bool:
    """Whether the change set holds message status changes of the booking not written yet (which
    a change of the booking must see: they are written first)."""
    return changes.of(session).holds(MESSAGE_UPDATES, booking_id)


MESSAGE_UPDATES = changes.Kind(
    "message updates", 10, write_message_updates, key=lambda update: update.booking_id
)


# --- counters ----------------------------------------------------------------------------------


async def write_counters(session: AsyncSession, tallies: list[counts.Tally]) -> None:
    """The counter changes' writer: the transaction's tallies added up, then written once."""
    total = tallies[0]
    for tally in tallies[1:]:
        total.merge(tally)
    await counts.write(session, total, later=True)


COUNTERS = changes.Kind("counters", 50, write_counters)
