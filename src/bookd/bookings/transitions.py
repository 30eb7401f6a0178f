"""Writing a booking's transition: the one place a change of a booking is made, whoever asks
(the API, the console, the self-service page, an MCP tool, the scheduler's clock).

`apply` takes the transition `domain.decide` gave and, in the caller's transaction, sets the new
status and version, makes or settles the booking's reminders and follow-ups, and adds to the
transaction's change set (`kit.changes`) what follows: the audit row, the transition's events,
the message status changes, the counter changes and the schedulers' wake-up, which their writers
(`bookings.writers`, `webhooks.relay.write_events`, `kit.wakeup`) store when the transaction ends.
Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, select

from bookd.bookings import counts, policy, writers
from bookd.bookings.domain import Action, Effect, MessageStatus, Status, Transition, decide
from bookd.bookings.models import Booking, BookingMessage
from bookd.bookings.queries import FOLLOWUP, REMINDER, Context, Loaded
from bookd.bookings.rows import BookingRow
from bookd.catalog import service as catalog
from bookd.catalog.models import Template
from bookd.events import outbox
from bookd.kit import bulk, changes, wakeup
from bookd.kit.clock import iso_z
from bookd.webhooks.relay import EVENTS_KIND

MESSAGES = cast(Table, BookingMessage.__table__)


async def apply(
    ctx: Context,
    loaded: Loaded,
    transition: Transition,
    *,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    fresh: bool = False,
    as_of: datetime | None = None,
) -> list[datetime]:
    """Write `transition`: status, version, messages; and add its audit row, events, counter
    changes and wake-up to the transaction's change set. The times of the pending reminders
    and follow-ups it made.

    `as_of` is the moment the change counts from when deciding whether a new reminder or
    follow-up is still to come (an automatic change uses its due time, not the processing time).
    A `fresh` booking was inserted with its first status and version already.
    """
    booking = loaded.booking
    if not fresh and loaded.counted is None:
        raise RuntimeError("a change to a booking read without its counted facts (`_locked`)")
    before = None if fresh else loaded.counted
    if not fresh:
        booking.status = transition.new.value
        booking.version += 1
        booking.updated_at = ctx.now
    reference = as_of or ctx.now
    tally = counts.Tally.empty()
    scheduled = [
        *await _effect(ctx, loaded, REMINDER, transition, reference, fresh, tally),
        *await _effect(ctx, loaded, FOLLOWUP, transition, reference, fresh, tally),
    ]
    if _wakes(transition, booking, scheduled, ctx.now):
        await wakeup.announce(ctx.session)
    pending = changes.of(ctx.session)
    pending.add(
        writers.AUDIT,
        writers.log_row(
            ctx.actor,
            ctx.now,
            booking.id,
            transition.action.value,
            transition.old.value if transition.old else None,
            transition.new.value,
            details or {},
        ),
    )
    record_events(ctx, loaded, transition, extra=extra or {})
    loaded.counted = await facts(ctx, booking)
    tally.change(ctx.workspace.id, before, loaded.counted, ctx.tz)
    pending.add(writers.COUNTERS, tally)
    return scheduled


async def apply_automatic(
    ctx: Context, loaded: Loaded, action: Action, *, as_of: datetime
) -> list[datetime]:
    """A change the clock makes (start, end, deactivate), counted from `as_of`, its due time;
    the times of the pending reminders and follow-ups it made. The batch's sends and skips of
    this booking's messages are written first: the change reads its messages. (Those of other
    bookings wait for the batch's one write.)"""
    if writers.updates_pending(ctx.session, loaded.booking.id):
        await changes.write(ctx.session)
    transition = decide(Status(loaded.booking.status), action)
    loaded.counted = await facts(ctx, loaded.booking)
    return await apply(ctx, loaded, transition, details={"due_at": iso_z(as_of)}, as_of=as_of)


async def facts(ctx: Context, booking: Booking) -> counts.Facts:
    """What the booking counts for now (whether a reminder was sent is read only where it
    counts: for a booking completed or a no-show)."""
    reminded = False
    if booking.status in (Status.COMPLETED.value, Status.NO_SHOW.value):
        reminded = (
            await ctx.session.scalar(
                select(BookingMessage.id)
                .where(
                    BookingMessage.booking_id == booking.id,
                    BookingMessage.kind == REMINDER,
                    BookingMessage.status == MessageStatus.SENT.value,
                )
                .limit(1)
            )
        ) is not None
    return counts.Facts.of(booking, reminded=reminded)


def _wakes(
    transition: Transition, booking: BookingRow, scheduled: list[datetime], now: datetime
) -> bool:
    """Whether the change is worth waking the schedulers for. Sleeping ones look again within
    their longest sleep anyway: only work that may fall due before then is."""
    if Effect.SCHEDULE not in (transition.reminders, transition.followups):
        return False
    return min([*scheduled, booking.start_time, booking.end_time]) <= now + wakeup.WAKE_WITHIN


def record_events(
    ctx: Context, loaded: Loaded, transition: Transition, *, extra: dict[str, Any]
) -> None:
    """Add the transition's events to the change set, with the booking as it is now."""
    if not transition.events:
        return
    # Who made the change, named as in the audit log: `api_key:<id>`, `customer:<id>`, ...
    payload = loaded.payload() | {"actor": ctx.actor} | extra
    changes.of(ctx.session).extend(
        EVENTS_KIND,
        (
            outbox.row(
                workspace_id=ctx.workspace.id,
                type=event_type,
                occurred_at=ctx.now,
                data=payload,
                booking_id=loaded.booking.id,
            )
            for event_type in transition.events
        ),
    )


async def _effect(
    ctx: Context,
    loaded: Loaded,
    kind: str,
    transition: Transition,
    reference: datetime,
    fresh: bool,
    tally: counts.Tally,
) -> list[datetime]:
    """Apply the transition's effect to the booking's `kind` messages (counting those it skips
    or removes in `tally`); the times of the pending ones it made."""
    effect = transition.reminders if kind == REMINDER else transition.followups
    if effect is Effect.KEEP:
        return []
    if effect is Effect.SCHEDULE:
        return await _schedule(ctx, loaded, kind, reference, fresh, tally)
    # SKIP or CANCEL: the pending ones become skipped or cancelled, the new status the reason;
    # by the message updates' writer (which counts them), at once: what the transaction does
    # next (the scheduler's pass over the booking's due messages) must see them settled.
    status = MessageStatus.SKIPPED if effect is Effect.SKIP else MessageStatus.CANCELLED
    settled = [
        writers.Settled(
            booking_id=loaded.booking.id,
            service_id=loaded.service.id,
            workspace_id=ctx.workspace.id,
            tz=ctx.tz,
            kind=kind,
            status=status.value,
            reason=f"booking {transition.new.value}",
        )
    ]
    await writers.write_message_updates(ctx.session, settled)
    return []


def _ids(loaded: Loaded) -> tuple[int, int]:
    return loaded.booking.id, loaded.service.id


async def _schedule(
    ctx: Context, loaded: Loaded, kind: str, reference: datetime, fresh: bool, tally: counts.Tally
) -> list[datetime]:
    """Instances from the service's active templates. Reminders keep what was sent and replace
    every unsent one; follow-ups are made once, when the booking becomes completed or no_show."""
    booking = loaded.booking
    sent: set[int] = set()
    if not fresh and kind == REMINDER:
        mine = (BookingMessage.booking_id == booking.id, BookingMessage.kind == kind)
        sent = set(
            (
                await ctx.session.scalars(
                    select(BookingMessage.sequence).where(
                        *mine, BookingMessage.status == MessageStatus.SENT.value
                    )
                )
            ).all()
        )
        removed = await ctx.session.execute(
            delete(BookingMessage)
            .where(*mine, BookingMessage.status != MessageStatus.SENT.value)
            .returning(BookingMessage.status, BookingMessage.scheduled_at)
        )
        for status, at in removed:
            tally.message(ctx.workspace.id, _ids(loaded), kind, status, at, ctx.tz, -1)
    templates = (
        loaded.reminders
        if kind == REMINDER and loaded.reminders is not None
        else await catalog.list_templates(ctx.session, loaded.service, kind, active_only=True)  # type: ignore[arg-type]
    )
    tz = ctx.tz
    rows = [
        _instance(booking, template, kind, tz, reference, ctx.now)
        for template in templates
        if template.sequence not in sent
    ]
    # One INSERT for all of them, no ORM objects, queued with the change set's other inserts:
    # what reads them later in the transaction writes the change set first.
    bulk.insert_later(ctx.session, MESSAGES, rows)
    for row in rows:
        tally.message(
            ctx.workspace.id, _ids(loaded), kind, row["status"], row["scheduled_at"], ctx.tz
        )
    return [row["scheduled_at"] for row in rows if row["status"] == MessageStatus.PENDING.value]


def _instance(
    booking: Booking,
    template: Template,
    kind: str,
    tz: ZoneInfo,
    reference: datetime,
    now: datetime,
) -> dict[str, Any]:
    offset = {"days": template.days, "hours": template.hours, "minutes": template.minutes}
    if kind == REMINDER:
        at = policy.reminder_time(booking.start_time, tz=tz, **offset)
    else:
        at = policy.followup_time(booking.end_time, tz=tz, **offset)
    status = policy.initial_status(at, reference)
    return {
        "booking_id": booking.id,
        "template_id": template.id,
        "kind": kind,
        "sequence": template.sequence,
        "title": template.title,
        "description": template.description,
        "scheduled_at": at,
        "status": status.value,
        "sent_at": None,
        "skip_reason": None if status is MessageStatus.PENDING else "scheduled time already passed",
        "created_at": now,
    }
