"""The pure state machine `bookd.bookings.domain.decide`, over the whole status x action grid.

The expected table is written out here from SPEC section 3, independently of `domain.RULES`, so a
change to the rules that the spec does not allow fails a test.
"""

from __future__ import annotations

import itertools

import pytest

from bookd.bookings.domain import FINAL, OPEN, Action, Effect, Status, Transition, decide
from bookd.events.types import EventType
from bookd.kit.errors import InvalidTransition

S = Status
E = EventType

SPEC_STATUSES = {
    "pending",
    "confirmed",
    "in_progress",
    "completed",
    "cancelled",
    "no_show",
    "inactive",
}
OPEN_SPEC = {S.PENDING, S.CONFIRMED, S.IN_PROGRESS}
ALL = set(Status)

# action -> (allowed from, new status or None for "unchanged/requested", events,
#            reminder effect, follow-up effect)
EXPECTED: dict[Action, tuple[set[Status], Status | None, tuple[EventType, ...], Effect, Effect]] = {
    Action.CONFIRM: ({S.PENDING}, S.CONFIRMED, (E.BOOKING_CONFIRMED,), Effect.KEEP, Effect.KEEP),
    Action.RESCHEDULE: (
        {S.PENDING, S.CONFIRMED},
        None,
        (E.BOOKING_RESCHEDULED,),
        Effect.SCHEDULE,
        Effect.KEEP,
    ),
    Action.CANCEL: (
        OPEN_SPEC,
        S.CANCELLED,
        (E.BOOKING_CANCELLED,),
        Effect.CANCEL,
        Effect.CANCEL,
    ),
    Action.COMPLETE: (
        OPEN_SPEC,
        S.COMPLETED,
        (E.BOOKING_COMPLETED,),
        Effect.SKIP,
        Effect.SCHEDULE,
    ),
    Action.NO_SHOW: (OPEN_SPEC, S.NO_SHOW, (E.BOOKING_NO_SHOW,), Effect.SKIP, Effect.SCHEDULE),
    Action.RATE: (ALL, None, (E.UPDATE_RATING,), Effect.KEEP, Effect.KEEP),
    Action.UPDATE: (ALL, None, (E.BOOKING_UPDATED,), Effect.KEEP, Effect.KEEP),
    Action.DELETE: (ALL, None, (E.BOOKING_DELETED,), Effect.KEEP, Effect.KEEP),
    # Automatic changes (SPEC section 3, second table).
    Action.START: (
        {S.PENDING, S.CONFIRMED},
        S.IN_PROGRESS,
        (E.MEETING_STARTED,),
        Effect.KEEP,
        Effect.KEEP,
    ),
    Action.END: (
        {S.IN_PROGRESS},
        S.COMPLETED,
        (E.MEETING_ENDED, E.BOOKING_COMPLETED),
        Effect.SKIP,
        Effect.SCHEDULE,
    ),
}

GRID_ACTIONS = [a for a in Action if a is not Action.CREATE]


def test_the_statuses_and_actions_are_the_specs() -> None:
    assert {s.value for s in Status} == SPEC_STATUSES
    assert {s.value for s in FINAL} == {"completed", "cancelled", "no_show", "inactive"}
    assert set(OPEN) == OPEN_SPEC
    assert set(EXPECTED) | {Action.CREATE, Action.DEACTIVATE} == set(Action)


def test_the_event_types_are_the_seeds_eleven_plus_three() -> None:
    assert {e.value for e in EventType} == {
        "BOOKING_CREATED",
        "BOOKING_CONFIRMED",
        "REMINDER_SENDING",
        "MEETING_STARTED",
        "MEETING_ENDED",
        "BOOKING_COMPLETED",
        "BOOKING_NO_SHOW",
        "FOLLOWUP_SENDING",
        "UPDATE_RATING",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
        "BOOKING_UPDATED",
        "BOOKING_DELETED",
        "BOOKING_INACTIVE",
    }


def _cells() -> list[tuple[Action, Status]]:
    return [(a, s) for a, s in itertools.product(GRID_ACTIONS, Status) if a in EXPECTED]


@pytest.mark.parametrize(
    ("action", "status"), _cells(), ids=[f"{a.value}-from-{s.value}" for a, s in _cells()]
)
def test_grid(action: Action, status: Status) -> None:
    allowed, to, events, reminders, followups = EXPECTED[action]
    if status not in allowed:
        with pytest.raises(InvalidTransition) as refused:
            decide(status, action)
        assert refused.value.status_code == 409
        assert refused.value.code == "invalid_transition"
        assert status.value in refused.value.message
        return
    transition = decide(status, action)
    assert transition == Transition(
        action=action,
        old=status,
        new=to or status,
        events=events,
        reminders=reminders,
        followups=followups,
    )
    assert transition.changes_status is (to is not None and to != status)


@pytest.mark.parametrize("status", list(Status), ids=[s.value for s in Status])
def test_deactivate(status: Status) -> None:
    """Anything due while the service is inactive: open bookings become inactive, pending reminders
    are skipped. SPEC says nothing of follow-ups here (an open booking has none pending): they are
    at least never scheduled for an inactive booking."""
    if status not in OPEN_SPEC:
        with pytest.raises(InvalidTransition):
            decide(status, Action.DEACTIVATE)
        return
    transition = decide(status, Action.DEACTIVATE)
    assert transition.old is status
    assert transition.new is S.INACTIVE
    assert transition.events == (E.BOOKING_INACTIVE,)
    assert transition.reminders is Effect.SKIP
    assert transition.followups is not Effect.SCHEDULE


@pytest.mark.parametrize("final", sorted(FINAL), ids=[s.value for s in sorted(FINAL)])
def test_a_final_status_is_left_only_by_nothing(final: Status) -> None:
    """No action, manual or automatic, moves a booking out of a final status."""
    for action in GRID_ACTIONS:
        try:
            transition = decide(final, action)
        except InvalidTransition:
            continue
        assert transition.new is final, action


@pytest.mark.parametrize(
    ("current", "requested"),
    list(itertools.product([S.PENDING, S.CONFIRMED], [None, S.PENDING, S.CONFIRMED])),
)
def test_reschedule_sets_the_requested_status_or_keeps_the_current_one(
    current: Status, requested: Status | None
) -> None:
    transition = decide(current, Action.RESCHEDULE, requested)
    assert transition.old is current
    assert transition.new is (requested or current)
    assert transition.events == (E.BOOKING_RESCHEDULED,)


@pytest.mark.parametrize("requested", sorted(ALL - {S.PENDING, S.CONFIRMED}), ids=lambda s: s.value)
def test_reschedule_refuses_a_status_other_than_pending_or_confirmed(requested: Status) -> None:
    with pytest.raises(InvalidTransition):
        decide(S.PENDING, Action.RESCHEDULE, requested)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, S.PENDING), (S.PENDING, S.PENDING), (S.CONFIRMED, S.CONFIRMED)],
)
def test_create(requested: Status | None, expected: Status) -> None:
    transition = decide(None, Action.CREATE, requested)
    assert transition == Transition(
        action=Action.CREATE,
        old=None,
        new=expected,
        events=(E.BOOKING_CREATED,),
        reminders=Effect.SCHEDULE,
        followups=Effect.KEEP,  # follow-ups never at creation
    )


@pytest.mark.parametrize("requested", sorted(ALL - {S.PENDING, S.CONFIRMED}), ids=lambda s: s.value)
def test_create_refuses_a_status_other_than_pending_or_confirmed(requested: Status) -> None:
    with pytest.raises(InvalidTransition):
        decide(None, Action.CREATE, requested)


@pytest.mark.parametrize("action", GRID_ACTIONS, ids=lambda a: a.value)
def test_an_action_on_no_booking_is_refused(action: Action) -> None:
    with pytest.raises(InvalidTransition):
        decide(None, action)


def test_cancelled_bookings_never_get_followups() -> None:
    for status in ALL:
        for action in GRID_ACTIONS:
            try:
                transition = decide(status, action)
            except InvalidTransition:
                continue
            if transition.new is S.CANCELLED:
                assert transition.followups is not Effect.SCHEDULE
            if transition.followups is Effect.SCHEDULE:
                assert transition.new in {S.COMPLETED, S.NO_SHOW}
