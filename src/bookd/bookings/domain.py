"""The booking lifecycle as data: (status, action) -> new status, the events it causes, and what
happens to the booking's pending reminders and follow-ups.

Pure: no database, no web, no clock. Every caller (REST, the action API, the scheduler, the console)
asks `decide()`; no status check lives anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bookd.events.types import EventType
from bookd.kit.errors import InvalidTransition


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
