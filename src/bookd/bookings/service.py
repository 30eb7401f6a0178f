"""Booking changes: check what is asked, ask the domain for the transition, and have
`transitions.apply` write it (the one place a change of a booking is written, with its messages,
audit row, events and counters). The reads and `Context` are `queries.py`. Nothing here commits.

A customer (`Context.customer`) books for itself only, without `force`, and changes an existing
booking through `_locked`, which asks the domain's rules for customers and the service's policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, insert, select

from bookd.availability.models import ServiceAvailability
from bookd.bookings import counts, slots, transitions, writers
from bookd.bookings.domain import (
    Action,
    CustomerPolicy,
    Status,
    Transition,
    customer_change,
    customer_may,
    decide,
)
from bookd.bookings.models import Booking, BookingLog, BookingMessage
from bookd.bookings.queries import FOLLOWUP as FOLLOWUP  # the edges name both kinds from here
from bookd.bookings.queries import (
    REMINDER,
    Context,
    Loaded,
    load,
)
from bookd.bookings.schemas import (
    BookingCreate,
    BookingUpdate,
    RescheduleBody,
)
from bookd.catalog.models import BookingService, Template
from bookd.kit import changes
from bookd.kit.clock import iso_z
from bookd.kit.errors import (
    Conflict,
    CustomerRefused,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from bookd.workspaces import service as workspaces

# For the rows written in bulk with Core statements (no ORM objects).
BOOKINGS = cast(Table, Booking.__table__)
# A Core INSERT of the table, not of the mapped class: the ORM's bulk-insert layer costs more than
# the statement, and nothing in the transaction holds the new row as an object.
_INSERT_BOOKING = insert(BOOKINGS).returning(BOOKINGS.c.id)
# The columns whose attribute is named otherwise (`metadata` is taken on a declarative class).
BOOKING_COLUMN = {"metadata_json": "metadata"}


# --- changes -----------------------------------------------------------------------------------


def _future_start(start_time: datetime, now: datetime) -> datetime:
    start = start_time.astimezone(now.tzinfo).replace(microsecond=0)
    if start <= now:
        raise ValidationFailed.on("start_time", "not_in_future", "start_time must be in the future")
    return start


@dataclass(frozen=True)
class Bookable:
    """What a new booking of a service needs to know, read in one statement: the service, whether
    it has availability settings, its active reminder templates (in sequence order)."""

    service: BookingService
    has_settings: bool
    reminders: list[Template]


SERVICES = cast(Table, BookingService.__table__)
TEMPLATES = cast(Table, Template.__table__)
SETTINGS = cast(Table, ServiceAvailability.__table__)
_TEMPLATE_COLUMNS = [c.label(f"template_{c.key}") for c in TEMPLATES.c]
_BOOKABLE = (
    select(*SERVICES.c, SETTINGS.c.service_id.label("settings_of"), *_TEMPLATE_COLUMNS)
    .select_from(
        SERVICES.outerjoin(SETTINGS, SETTINGS.c.service_id == SERVICES.c.id).outerjoin(
            TEMPLATES,
            and_(
                TEMPLATES.c.service_id == SERVICES.c.id,
                TEMPLATES.c.kind == REMINDER,
                TEMPLATES.c.status == "active",
            ),
        )
    )
    .where(SERVICES.c.workspace_id == bindparam("workspace_id"))
    .order_by(TEMPLATES.c.sequence)
)
_BOOKABLE_BY_UID = _BOOKABLE.where(SERVICES.c.service_uid == bindparam("key"))
_BOOKABLE_BY_ID = _BOOKABLE.where(SERVICES.c.id == bindparam("key"))


async def _bookable(ctx: Context, data: BookingCreate) -> Bookable:
    """The service `data` names (by `service_uid` or `service_id`), or 404 / 422."""
    if data.service_uid is None and data.service_id is None:
        raise ValidationFailed.on("service_uid", "missing", "service_uid or service_id is required")
    by_uid = data.service_uid is not None
    rows = (
        await ctx.session.execute(
            _BOOKABLE_BY_UID if by_uid else _BOOKABLE_BY_ID,
            {
                "workspace_id": ctx.workspace.id,
                "key": data.service_uid if by_uid else data.service_id,
            },
        )
    ).all()
    if not rows:
        raise NotFound(
            f"no booking service {data.service_uid!r}"
            if by_uid
            else f"no booking service with id {data.service_id}"
        )
    first = rows[0]._mapping
    service = BookingService(**{c.key: first[c.key] for c in SERVICES.c})
    if data.service_id is not None and data.service_id != service.id:
        raise ValidationFailed.on(
            "service_id", "mismatch", "service_id and service_uid name different services"
        )
    reminders = [
        Template(**{c.key: row._mapping[f"template_{c.key}"] for c in TEMPLATES.c})
        for row in rows
        if row.template_id is not None
    ]
    return Bookable(service, first["settings_of"] is not None, reminders)


async def _checked_time(
    ctx: Context,
    service: BookingService,
    start_time: datetime,
    duration: int,
    force: bool,
    *,
    configured: bool | None = None,
    exclude_booking_id: int | None = None,
) -> tuple[datetime, dict[str, Any] | None]:
    """The start asked for a booking of `service`, checked (the service active, the start in the
    future, the availability settings), and what a staff override (`force`) overrode."""
    _require_active(service)
    start = _future_start(start_time, ctx.now)
    overridden = await slots.enforce(
        ctx.session,
        service,
        tz=ctx.tz,
        start=start,
        duration=duration,
        now=ctx.now,
        force=force,
        exclude_booking_id=exclude_booking_id,
        configured=configured,
    )
    return start, overridden


def _require_active(service: BookingService) -> None:
    if service.status != "active":
        raise Conflict(f"booking service {service.service_uid!r} is inactive")


def check_customer_creation(ctx: Context, data: BookingCreate) -> None:
    """403 where a customer asks to book for another bot user, or past the availability settings
    (`force`). Checked before anything is read, and before an `Idempotency-Key`'s stored answer
    is given again, so that a customer's repeat only ever answers with its own booking."""
    if ctx.customer is not None and data.bot_user_ns != ctx.customer.bot_user_ns:
        raise Forbidden("a customer token books for its own bot user only")
    _refuse_force(ctx, data.force)


def _refuse_force(ctx: Context, force: bool) -> None:
    if force and ctx.customer is not None:
        raise Forbidden("force is for staff: a customer books what the availability allows")


async def create_booking(ctx: Context, data: BookingCreate) -> Loaded:
    check_customer_creation(ctx, data)
    bookable = await _bookable(ctx, data)
    service = bookable.service
    duration = service.default_duration if data.duration is None else data.duration
    start, overridden = await _checked_time(
        ctx, service, data.start_time, duration, data.force, configured=bookable.has_settings
    )
    bot_user = await workspaces.ensure_bot_user(
        ctx.session, ctx.workspace.id, data.bot_user_ns, ctx.now
    )
    transition = decide(None, Action.CREATE, Status(data.status))
    values = {
        "workspace_id": ctx.workspace.id,
        "service_id": service.id,
        "bot_user_id": bot_user.id,
        "status": transition.new.value,
        "start_time": start,
        "end_time": start + timedelta(minutes=duration),
        "duration": duration,
        "location": data.location,
        "source": data.source,
        "metadata_json": data.metadata,
        "notes": data.notes,
        "reschedule_count": 0,
        "rating": None,
        "cancel_reason": None,
        "reschedule_reason": None,
        "version": 1,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    # One INSERT, no unit of work: nothing else in this transaction changes the new booking.
    row = {BOOKING_COLUMN.get(name, name): value for name, value in values.items()}
    booking_id = (await ctx.session.execute(_INSERT_BOOKING, row)).scalar_one()
    booking = Booking(id=booking_id, **values)
    loaded = Loaded(booking, service, bot_user, reminders=bookable.reminders)
    await transitions.apply(ctx, loaded, transition, fresh=True, details=_forced(overridden))
    return loaded


def _forced(overridden: dict[str, Any] | None) -> dict[str, Any]:
    """The audit detail of a staff override of the availability settings (`force`)."""
    return {"forced": overridden} if overridden else {}


async def _locked(
    ctx: Context,
    booking_id: int,
    if_match: int | None,
    action: Action,
    requested: Status | None = None,
) -> tuple[Loaded, Transition]:
    """The booking, locked, at the version `If-Match` names, and the transition `action` makes
    from its status (or 409); for a customer, one of its own bookings (404) and an action that
    is a customer's (403) and that the service's customer policy allows (409)."""
    if ctx.customer is not None:
        customer_may(action)
    await changes.write(ctx.session)  # an earlier change of this transaction, before reading
    loaded = await load(ctx, booking_id, lock=True)
    if if_match is not None and if_match != loaded.booking.version:
        raise Conflict(
            f"booking {booking_id} is at version {loaded.booking.version}, not {if_match}",
            [
                {
                    "field": "If-Match",
                    "code": "version_mismatch",
                    "message": "the booking changed meanwhile",
                }
            ],
        )
    transition = decide(Status(loaded.booking.status), action, requested)
    if ctx.customer is not None:
        _customer_check(ctx, loaded, action)
    loaded.counted = await transitions.facts(ctx, loaded.booking)
    return loaded, transition


def _customer_check(ctx: Context, loaded: Loaded, action: Action) -> None:
    """409 for a change of its booking that the rules for customers or the service's customer
    policy refuse the customer now."""
    until_start = loaded.booking.start_time - ctx.now
    status = Status(loaded.booking.status)
    customer_change(action, status, _customer_policy(loaded.service), until_start=until_start)


# The changes of its own booking a customer is offered (the self-service page), in this order.
CUSTOMER_OFFERS = (Action.CONFIRM, Action.RESCHEDULE, Action.CANCEL, Action.RATE)


def customer_offers(ctx: Context, loaded: Loaded) -> dict[Action, str | None]:
    """What a customer may do of its booking now, decided as its change would be (`_locked`): each
    change the booking's status allows it, with None where the service's customer policy allows
    it too, else the policy's refusal. A change the status refuses is left out."""
    status = Status(loaded.booking.status)
    offers: dict[Action, str | None] = {}
    for action in CUSTOMER_OFFERS:
        try:
            decide(status, action)
            _customer_check(ctx, loaded, action)
        except InvalidTransition:
            continue
        except CustomerRefused as refusal:
            offers[action] = refusal.message
            continue
        offers[action] = None
    return offers


def _customer_policy(service: BookingService) -> CustomerPolicy:
    cutoff = service.customer_cutoff_minutes
    return CustomerPolicy(
        can_cancel=service.customer_can_cancel,
        can_reschedule=service.customer_can_reschedule,
        cutoff=None if cutoff is None else timedelta(minutes=cutoff),
    )


async def act(
    ctx: Context,
    booking_id: int,
    action: Action,
    *,
    if_match: int | None = None,
    reason: str | None = None,
) -> Loaded:
    """confirm, cancel, complete, no-show: the actions that take at most a reason."""
    loaded, transition = await _locked(ctx, booking_id, if_match, action)
    details: dict[str, Any] = {}
    if action is Action.CANCEL:
        loaded.booking.cancel_reason = reason
        details["reason"] = reason
    await transitions.apply(ctx, loaded, transition, details=details)
    return loaded


async def reschedule(
    ctx: Context, booking_id: int, body: RescheduleBody, *, if_match: int | None = None
) -> Loaded:
    _refuse_force(ctx, body.force)
    requested = Status(body.status) if body.status else None
    loaded, transition = await _locked(ctx, booking_id, if_match, Action.RESCHEDULE, requested)
    booking = loaded.booking
    duration = booking.duration if body.duration is None else body.duration
    start, overridden = await _checked_time(
        ctx, loaded.service, body.start_time, duration, body.force, exclude_booking_id=booking.id
    )
    old = {
        "start_time": iso_z(booking.start_time),
        "end_time": iso_z(booking.end_time),
        "duration": booking.duration,
    }
    booking.start_time = start
    booking.end_time = start + timedelta(minutes=duration)
    booking.duration = duration
    booking.reschedule_count += 1
    booking.reschedule_reason = body.reason
    new = {
        "start_time": iso_z(booking.start_time),
        "end_time": iso_z(booking.end_time),
        "duration": duration,
    }
    change = {"old": old, "new": new, "reason": body.reason}
    details = change | _forced(overridden)
    await transitions.apply(ctx, loaded, transition, details=details, extra={"reschedule": change})
    return loaded


async def update_details(
    ctx: Context, booking_id: int, body: BookingUpdate, *, if_match: int | None = None
) -> Loaded:
    """Change the fields `body` sets; only those that really change are logged and announced."""
    loaded, transition = await _locked(ctx, booking_id, if_match, Action.UPDATE)
    changes: dict[str, dict[str, Any]] = {}
    for name, value in body.model_dump(exclude_unset=True).items():
        column = "metadata_json" if name == "metadata" else name
        old = getattr(loaded.booking, column)
        if value is None and name != "metadata":
            value = ""  # an explicit null clears a text field
        if old != value:
            changes[name] = {"old": old, "new": value}
            setattr(loaded.booking, column, value)
    await transitions.apply(
        ctx, loaded, transition, details={"changes": changes}, extra={"changes": changes}
    )
    return loaded


async def rate(
    ctx: Context, booking_id: int, rating: int, *, if_match: int | None = None
) -> Loaded:
    """Rate the booking (again, in any status): the log and UPDATE_RATING say old and new."""
    loaded, transition = await _locked(ctx, booking_id, if_match, Action.RATE)
    change = {"old": loaded.booking.rating, "new": rating}
    loaded.booking.rating = rating
    await transitions.apply(ctx, loaded, transition, details=change, extra={"rating": change})
    return loaded


async def delete_booking(ctx: Context, booking_id: int, *, if_match: int | None = None) -> None:
    loaded, transition = await _locked(ctx, booking_id, if_match, Action.DELETE)
    transitions.record_events(ctx, loaded, transition, extra={})
    session = ctx.session
    # Deleted for good, history and all: it no longer counts in the analytics either.
    tally = counts.Tally.empty()
    tally.change(ctx.workspace.id, loaded.counted, None, ctx.tz)
    removed = await session.execute(
        delete(BookingMessage)
        .where(BookingMessage.booking_id == booking_id)
        .returning(BookingMessage.kind, BookingMessage.status, BookingMessage.scheduled_at)
    )
    booking = (booking_id, loaded.service.id)
    for kind, status, at in removed:
        tally.message(ctx.workspace.id, booking, kind, status, at, ctx.tz, -1)
    changes.of(session).add(writers.COUNTERS, tally)
    await session.execute(delete(BookingLog).where(BookingLog.booking_id == booking_id))
    await session.execute(delete(Booking).where(Booking.id == booking_id))
    session.expunge(loaded.booking)
