"""The booking lifecycle as data: (status, action) -> new status, the events it causes, and what
happens to the booking's pending reminders and follow-ups; and what a customer may do of its own
bookings.

Pure: no database, no web, no clock. Every caller (REST, the action API, the scheduler, the console)
asks `decide()`, and for a customer `customer_may()` and `customer_change()`; no status check
lives anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bookd.events.types import EventType
from bookd.kit.errors import (
    CustomerCancelNotAllowed,
    CustomerCutoffPassed,
    CustomerRescheduleNotAllowed,
    Forbidden,
    InvalidTransition,
)


class Status(StrEnum):
    PENDING = "pending"
    """Created, not yet confirmed."""
    CONFIRMED = "confirmed"
    """Confirmed by the customer or staff."""
    IN_PROGRESS = "in_progress"
    """The start time has been reached (set by the scheduler)."""
    COMPLETED = "completed"
    """Final: marked completed, or the end time was reached."""
    CANCELLED = "cancelled"
    """Final: cancelled with a reason."""
    NO_SHOW = "no_show"
    """Final: the customer did not attend."""
    INACTIVE = "inactive"
    """Final: something fell due while the booking's service was inactive."""


FINAL = frozenset({Status.COMPLETED, Status.CANCELLED, Status.NO_SHOW, Status.INACTIVE})
OPEN = frozenset({Status.PENDING, Status.CONFIRMED, Status.IN_PROGRESS})
ANY = frozenset(Status)


class Action(StrEnum):
    CREATE = "create"
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    COMPLETE = "complete"
    NO_SHOW = "no_show"
    RATE = "rate"
    UPDATE = "update"
    DELETE = "delete"
    # Automatic, by the scheduler:
    START = "start"
    END = "end"
    DEACTIVATE = "deactivate"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Effect(StrEnum):
    """What a transition does to the booking's reminders or follow-ups."""

    KEEP = "keep"
    SCHEDULE = "schedule"
    """Create instances from the service's active templates (reminders: for unsent sequences)."""
    SKIP = "skip"
    """Pending instances become `skipped`."""
    CANCEL = "cancel"
    """Pending instances become `cancelled`."""


@dataclass(frozen=True)
class Rule:
    allowed_from: frozenset[Status]
    to: Status | None
    """None: the status stays (or, for a reschedule, becomes the requested one)."""
    events: tuple[EventType, ...]
    reminders: Effect = Effect.KEEP
    followups: Effect = Effect.KEEP


S, E = Status, EventType
SCHEDULE, SKIP, CANCEL = Effect.SCHEDULE, Effect.SKIP, Effect.CANCEL
BEFORE_START = frozenset({S.PENDING, S.CONFIRMED})
ENDED = (E.MEETING_ENDED, E.BOOKING_COMPLETED)

# fmt: off
RULES: dict[Action, Rule] = {
    # action:          allowed from,                    to,           events,                  reminders, follow-ups
    Action.CREATE:     Rule(frozenset(),                None,         (E.BOOKING_CREATED,),    SCHEDULE),
    Action.CONFIRM:    Rule(frozenset({S.PENDING}),     S.CONFIRMED,  (E.BOOKING_CONFIRMED,)),
    Action.RESCHEDULE: Rule(BEFORE_START,               None,         (E.BOOKING_RESCHEDULED,), SCHEDULE),
    Action.CANCEL:     Rule(OPEN,                       S.CANCELLED,  (E.BOOKING_CANCELLED,),  CANCEL,   CANCEL),
    Action.COMPLETE:   Rule(OPEN,                       S.COMPLETED,  (E.BOOKING_COMPLETED,),  SKIP,     SCHEDULE),
    Action.NO_SHOW:    Rule(OPEN,                       S.NO_SHOW,    (E.BOOKING_NO_SHOW,),    SKIP,     SCHEDULE),
    Action.RATE:       Rule(ANY,                        None,         (E.UPDATE_RATING,)),
    Action.UPDATE:     Rule(ANY,                        None,         (E.BOOKING_UPDATED,)),
    Action.DELETE:     Rule(ANY,                        None,         (E.BOOKING_DELETED,)),
    Action.START:      Rule(BEFORE_START,               S.IN_PROGRESS,(E.MEETING_STARTED,)),
    Action.END:        Rule(frozenset({S.IN_PROGRESS}), S.COMPLETED,  ENDED,                   SKIP,     SCHEDULE),
    Action.DEACTIVATE: Rule(OPEN,                       S.INACTIVE,   (E.BOOKING_INACTIVE,),   SKIP,     CANCEL),
}
# fmt: on

# A reschedule may set the status to one of these; a new booking starts in one of them.
REQUESTABLE = frozenset({Status.PENDING, Status.CONFIRMED})


@dataclass(frozen=True)
class Transition:
    action: Action
    old: Status | None
    new: Status
    events: tuple[EventType, ...]
    reminders: Effect
    followups: Effect

    @property
    def changes_status(self) -> bool:
        return self.old != self.new


def decide(current: Status | None, action: Action, requested: Status | None = None) -> Transition:
    """The transition `action` makes from `current`, or `InvalidTransition`.

    `current` is None only for CREATE; `requested` is the pending/confirmed status asked for by a
    create or a reschedule.
    """
    rule = RULES[action]
    if requested is not None and requested not in REQUESTABLE:
        raise InvalidTransition(f"a booking can be set to pending or confirmed, not {requested}")
    if action is Action.CREATE:
        return Transition(
            action, None, requested or Status.PENDING, rule.events, rule.reminders, rule.followups
        )
    if current is None or current not in rule.allowed_from:
        raise InvalidTransition(
            f"cannot {action.value.replace('_', '-')} a booking that is {current}"
        )
    new = rule.to or requested or current
    return Transition(action, current, new, rule.events, rule.reminders, rule.followups)


# --- what a customer may do ----------------------------------------------------------------------

# A customer token's actions on its own bot user's bookings (which alone it can see); the others
# (complete, no-show, update, delete) are staff's.
CUSTOMER_ACTIONS = frozenset(
    {Action.CREATE, Action.CONFIRM, Action.RESCHEDULE, Action.CANCEL, Action.RATE}
)
# A customer rates a booking that took place; staff may rate one in any status.
CUSTOMER_RATES = frozenset({Status.COMPLETED})
# The changes a service's cutoff refuses a customer close to the start.
CUSTOMER_CUTOFF_ACTIONS = frozenset({Action.CANCEL, Action.RESCHEDULE})


@dataclass(frozen=True)
class CustomerPolicy:
    """A booking service's rules for its customers' changes of their own bookings."""

    can_cancel: bool = True
    can_reschedule: bool = True
    cutoff: timedelta | None = None
    """No cancelling or rescheduling when the start is closer than this."""


def customer_may(action: Action) -> None:
    """403 for an action that is not a customer's, whichever booking it names."""
    if action not in CUSTOMER_ACTIONS:
        raise Forbidden(f"only staff may {action.value.replace('_', '-')} a booking")


def customer_change(
    action: Action, status: Status, policy: CustomerPolicy, *, until_start: timedelta
) -> None:
    """409 for a customer's change of its own booking (in `status`, starting `until_start` from
    now) that the rules for customers or the service's `policy` refuse."""
    if action is Action.RATE and status not in CUSTOMER_RATES:
        raise InvalidTransition(f"a customer rates a completed booking, not one that is {status}")
    if action is Action.CANCEL and not policy.can_cancel:
        raise CustomerCancelNotAllowed("this service's bookings are cancelled by staff only")
    if action is Action.RESCHEDULE and not policy.can_reschedule:
        raise CustomerRescheduleNotAllowed("this service's bookings are rescheduled by staff only")
    cutoff = policy.cutoff
    if action in CUSTOMER_CUTOFF_ACTIONS and cutoff is not None and until_start < cutoff:
        minutes = int(cutoff.total_seconds() // 60)
        raise CustomerCutoffPassed(
            f"a customer may {action.value} a booking of this service up to {minutes} minutes "
            "before its start"
        )
