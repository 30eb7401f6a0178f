"""Random action sequences against one booking, checked step by step against a plain model.

The model below is written from SPEC §3 and §4 alone and imports nothing from `bookd`'s domain:
it is an independent oracle for the transition table, the reminder/follow-up effects, the audit
log and the outbox. Every action goes through the HTTP API; after every step the booking, its
reminders, follow-ups, log rows and events are read back through the API and compared.

The scheduler is left out here (tests/scheduling drives it, on the same rules): two rules stand in
for what it does, and only with states it could itself produce: "time passes" moves the clock without letting anything fall due, and "the
scheduler sends a reminder" moves the clock to the earliest pending reminder and marks it `sent` in
the database (`api.run`), which is what lets a reschedule's keep-what-was-sent rule be exercised.
The automatic start and end of a meeting are left out: the clock never reaches a start time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings.models import BookingMessage
from tests import factories, sizes
from tests.conftest import Api, TestClock

# --- the model: SPEC §3/§4 written out again, independently of bookd.bookings.domain ----------

OPEN = frozenset({"pending", "confirmed", "in_progress"})
EVERY = frozenset(
    {"pending", "confirmed", "in_progress", "completed", "cancelled", "no_show", "inactive"}
)
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "confirm": frozenset({"pending"}),
    "reschedule": frozenset({"pending", "confirmed"}),
    "cancel": OPEN,
    "complete": OPEN,
    "no-show": OPEN,
    "rating": EVERY,
    "update": EVERY,
}


@dataclass(frozen=True)
class Offset:
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @property
    def delta(self) -> timedelta:
        # The workspace is UTC: no DST change, so calendar days are 24 hours.
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


# Reminder offsets, by sequence. Starts are drawn at most 60 days ahead, so the 300-day reminder is
# always in the past (skipped at scheduling); the 1-hour one is pending unless the start is within
# the hour; the 7-day one goes either way.
REMINDERS = {1: Offset(hours=1), 2: Offset(days=300), 3: Offset(days=7)}
FOLLOWUPS = {1: Offset(), 2: Offset(days=1)}
DEFAULT_DURATION = 45
MAX_AHEAD_MINUTES = 60 * 24 * 60


@dataclass
class Message:
    status: str
    scheduled_at: datetime


@dataclass
class Model:
    now: datetime
    status: str
    start: datetime
    duration: int
    reschedule_count: int = 0
    rating: int | None = None
    cancel_reason: str | None = None
    reschedule_reason: str | None = None
    location: str = ""
    notes: str = ""
    metadata: str | None = None
    reminders: dict[int, Message] = field(default_factory=dict)
    followups: dict[int, Message] = field(default_factory=dict)
    log: list[tuple[str | None, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration)

    def initial(self, at: datetime) -> Message:
        # SPEC §4: pending if in the future, else skipped. `now` is always on :30 seconds and every
        # scheduled time on a whole minute, so "at == now" never arises.
        return Message("pending" if at > self.now else "skipped", at)

    def schedule_reminders(self) -> None:
        """Keep what was sent; every other sequence re-created from the templates."""
        self.reminders = {
            sequence: self.reminders[sequence]
            if sequence in self.reminders and self.reminders[sequence].status == "sent"
            else self.initial(self.start - offset.delta)
            for sequence, offset in REMINDERS.items()
        }

    def schedule_followups(self) -> None:
        self.followups = {
            sequence: self.initial(self.end + offset.delta)
            for sequence, offset in FOLLOWUPS.items()
        }

    def settle_pending(self, messages: dict[int, Message], to: str) -> None:
        for message in messages.values():
            if message.status == "pending":
                message.status = to

    def record(self, old: str | None, event: str) -> None:
        self.log.append((old, self.status))
        self.events.append(event)

    def next_due(self) -> datetime | None:
        """The earliest moment at which the scheduler would have something to do."""
        times = [
            m.scheduled_at
            for m in [*self.reminders.values(), *self.followups.values()]
            if m.status == "pending"
        ]
        if self.status in ("pending", "confirmed"):
            times.append(self.start)
        return min(times, default=None)


def z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


# --- the machine --------------------------------------------------------------------------------

Reason = st.text(alphabet="abcxyz ÄéØ-", min_size=1, max_size=40).filter(lambda s: s.strip())
MinutesAhead = st.integers(min_value=1, max_value=MAX_AHEAD_MINUTES)
Duration = st.integers(min_value=0, max_value=1000)


def build_machine(api: Api, clock: TestClock, service_uid: str) -> type[RuleBasedStateMachine]:
    class BookingLifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: Model | None = None
            self.booking_id = 0
            self.edits = 0
            # (action, status) pairs already seen refused in this example: the same refusal again
            # from the same status teaches nothing, so the rule waits for another status.
            self.refused: set[tuple[str, str]] = set()

        # -- helpers --

        @property
        def m(self) -> Model:
            assert self.model is not None
            return self.model

        def path(self, suffix: str = "") -> str:
            return f"/v1/bookings/{self.booking_id}{suffix}"

        def worth_trying(self, *actions: str) -> bool:
            return self.model is not None and any(
                self.m.status in ALLOWED_FROM[a] or (a, self.m.status) not in self.refused
                for a in actions
            )

        def attempt(self, action: str, method: str, suffix: str, body: Any = None) -> Any | None:
            """Send the action; a refusal must be a 409 `invalid_transition`. The answer's JSON
            when the model says the action is allowed, else None."""
            allowed = self.m.status in ALLOWED_FROM[action]
            response = api.request(method, self.path(suffix), json=body)
            if not allowed:
                self.refused.add((action, self.m.status))
                assert response.status_code == 409, (action, self.m.status, response.text)
                assert response.json()["error"]["code"] == "invalid_transition", response.text
                return None
            assert response.status_code == 200, (action, self.m.status, response.text)
            return response.json()

        def start_in(self, minutes: int) -> datetime:
            return whole_minute(self.m.now) + timedelta(minutes=minutes)

        # -- a fresh booking per example --

        @initialize(
            status=st.sampled_from(["pending", "confirmed"]),
            minutes_ahead=MinutesAhead,
            duration=st.none() | Duration,
        )
        def create(self, status: str, minutes_ahead: int, duration: int | None) -> None:
            now = whole_minute(datetime.now(UTC)) + timedelta(seconds=30)
            clock.set(now)
            self.model = Model(
                now=now,
                status=status,
                start=whole_minute(now) + timedelta(minutes=minutes_ahead),
                duration=DEFAULT_DURATION if duration is None else duration,
            )
            body: dict[str, Any] = {
                "service_uid": service_uid,
                "bot_user_ns": "state-machine",
                "start_time": z(self.m.start),
                "status": status,
            }
            if duration is not None:
                body["duration"] = duration
            response = api.post("/v1/bookings", body)
            assert response.status_code == 201, response.text
            self.booking_id = response.json()["id"]
            self.m.schedule_reminders()
            self.m.record(None, "BOOKING_CREATED")

        def teardown(self) -> None:
            # Leave nothing behind that a scheduler test, draining every workspace, could find due.
            if self.booking_id:
                response = api.delete(self.path())
                assert response.status_code == 204, response.text

        # -- the actions --

        @precondition(lambda self: self.worth_trying("confirm"))
        @rule()
        def confirm(self) -> None:
            old = self.m.status
            if self.attempt("confirm", "POST", "/confirm") is not None:
                self.m.status = "confirmed"
                self.m.record(old, "BOOKING_CONFIRMED")

        @precondition(lambda self: self.worth_trying("reschedule"))
        @rule(
            minutes_ahead=MinutesAhead,
            status=st.sampled_from([None, "pending", "confirmed"]),
            duration=st.none() | Duration,
            reason=Reason,
        )
        def reschedule(
            self, minutes_ahead: int, status: str | None, duration: int | None, reason: str
        ) -> None:
            start = self.start_in(minutes_ahead)
            body: dict[str, Any] = {"start_time": z(start), "reason": reason}
            if status is not None:
                body["status"] = status
            if duration is not None:
                body["duration"] = duration
            old = self.m.status
            if self.attempt("reschedule", "POST", "/reschedule", body) is None:
                return
            self.m.start = start
            if duration is not None:
                self.m.duration = duration
            self.m.status = status or old
            self.m.reschedule_count += 1
            self.m.reschedule_reason = reason
            self.m.schedule_reminders()
            self.m.record(old, "BOOKING_RESCHEDULED")

        @precondition(lambda self: self.worth_trying("cancel", "complete", "no-show"))
        @rule(outcome=st.sampled_from(["cancel", "complete", "no-show"]), reason=Reason)
        def close(self, outcome: str, reason: str) -> None:
            """One rule for the three final actions, so that sequences do not end too soon."""
            old = self.m.status
            if outcome == "cancel":
                if self.attempt("cancel", "POST", "/cancel", {"reason": reason}) is None:
                    return
                self.m.status = "cancelled"
                self.m.cancel_reason = reason
                self.m.settle_pending(self.m.reminders, "cancelled")
                self.m.settle_pending(self.m.followups, "cancelled")
                self.m.record(old, "BOOKING_CANCELLED")
                return
            if self.attempt(outcome, "POST", f"/{outcome}") is None:
                return
            self.m.status = "completed" if outcome == "complete" else "no_show"
            self.m.settle_pending(self.m.reminders, "skipped")
            self.m.schedule_followups()
            self.m.record(old, "BOOKING_COMPLETED" if outcome == "complete" else "BOOKING_NO_SHOW")

        @rule(rating=st.integers(min_value=0, max_value=5))
        def rate(self, rating: int) -> None:
            if self.attempt("rating", "POST", "/rating", {"rating": rating}) is None:
                return
            self.m.rating = rating
            self.m.record(self.m.status, "UPDATE_RATING")

        @rule(
            location=st.none() | st.text(alphabet="ab ü1", max_size=20),
            metadata=st.sampled_from([None, "absent", '{"room": 4}', "[]", '"x"']),
        )
        def update_details(self, location: str | None, metadata: str | None) -> None:
            # The notes always change, so every update is a real change (SPEC is silent on
            # whether an update that changes nothing is logged; this test does not decide it).
            self.edits += 1
            body: dict[str, Any] = {"notes": f"edit {self.edits}"}
            if location is not None:
                body["location"] = location
            if metadata != "absent":
                body["metadata"] = metadata
            if self.attempt("update", "PATCH", "", body) is None:
                return
            self.m.notes = body["notes"]
            self.m.location = body.get("location", self.m.location)
            self.m.metadata = body.get("metadata", self.m.metadata)
            self.m.record(self.m.status, "BOOKING_UPDATED")

        # -- standing in for the scheduler (see the module docstring) --

        def quiet_minutes(self) -> int:
            """How many whole minutes the clock may move with nothing falling due."""
            due = self.m.next_due()
            if due is None:
                return 10_000
            # `due` is on a whole minute, `now` on :30, so this many minutes stay strictly before.
            return int((due - self.m.now) // timedelta(minutes=1))

        @precondition(lambda self: self.model is not None and self.quiet_minutes() >= 1)
        @rule(minutes=st.integers(min_value=1, max_value=10_000))
        def time_passes(self, minutes: int) -> None:
            self.m.now += timedelta(minutes=min(minutes, self.quiet_minutes()))
            clock.set(self.m.now)

        def next_reminder(self) -> tuple[int, Message] | None:
            if self.m.status not in ("pending", "confirmed"):
                return None
            pending = [(s, m) for s, m in self.m.reminders.items() if m.status == "pending"]
            return min(pending, key=lambda p: p[1].scheduled_at, default=None)

        @precondition(lambda self: self.model is not None and self.next_reminder() is not None)
        @rule()
        def scheduler_sends_next_reminder(self) -> None:
            found = self.next_reminder()
            assert found is not None
            sequence, message = found
            assert message.scheduled_at == self.m.next_due()  # nothing else falls due first
            self.m.now = message.scheduled_at + timedelta(seconds=30)
            clock.set(self.m.now)
            booking_id, sent_at = self.booking_id, self.m.now

            async def mark_sent(session: AsyncSession) -> int:
                result = await session.execute(
                    update(BookingMessage)
                    .where(
                        BookingMessage.booking_id == booking_id,
                        BookingMessage.kind == "reminder",
                        BookingMessage.sequence == sequence,
                        BookingMessage.status == "pending",
                    )
                    .values(status="sent", sent_at=sent_at)
                )
                return int(result.rowcount)  # type: ignore[attr-defined]

            assert api.run(mark_sent) == 1
            message.status = "sent"

        # -- compared with the model after every step --

        @invariant()
        def booking_matches(self) -> None:
            response = api.get(self.path())
            assert response.status_code == 200, response.text
            got = response.json()
            m = self.m
            expected = {
                "status": m.status,
                "start_time": z(m.start),
                "end_time": z(m.end),
                "duration": m.duration,
                "reschedule_count": m.reschedule_count,
                "rating": m.rating,
                "cancel_reason": m.cancel_reason,
                "reschedule_reason": m.reschedule_reason,
                "location": m.location,
                "notes": m.notes,
                "metadata": m.metadata,
            }
            assert {k: got[k] for k in expected} == expected

        @invariant()
        def messages_match(self) -> None:
            for kind, messages in (
                ("reminders", self.m.reminders),
                ("followups", self.m.followups),
            ):
                response = api.get(self.path(f"/{kind}"))
                assert response.status_code == 200, response.text
                rows = response.json()["data"]
                got = [(r["sequence"], r["status"], r["scheduled_at"]) for r in rows]
                expected = [
                    (s, msg.status, z(msg.scheduled_at)) for s, msg in sorted(messages.items())
                ]
                assert got == expected, kind
                for row in rows:
                    assert (row["sent_at"] is None) == (row["status"] != "sent"), row
                if kind == "followups" and self.m.status not in ("completed", "no_show"):
                    assert rows == [], "follow-ups exist only once completed or no_show"

        @invariant()
        def one_log_row_and_one_event_per_change(self) -> None:
            response = api.get(self.path("/logs"), params={"limit": 200})
            assert response.status_code == 200, response.text
            logs = [(r["old_status"], r["new_status"]) for r in response.json()["data"]]
            assert logs == self.m.log
            events = factories.events(api, booking_id=self.booking_id)
            assert [e["type"] for e in events] == self.m.events
            assert events[-1]["data"]["booking"]["status"] == self.m.status

    return BookingLifecycle


@pytest.mark.soak
def test_booking_lifecycle_matches_model(api: Api, clock: TestClock) -> None:
    svc = factories.service(api, default_duration=DEFAULT_DURATION)
    uid = svc["service_uid"]
    for kind, offsets in (("reminders", REMINDERS), ("followups", FOLLOWUPS)):
        for sequence, offset in offsets.items():
            made = factories.template(
                api,
                uid,
                kind,
                title=f"{kind} {sequence}",
                days=offset.days,
                hours=offset.hours,
                minutes=offset.minutes,
            )
            assert made["sequence"] == sequence
    run_state_machine_as_test(
        build_machine(api, clock, uid),
        settings=settings(
            max_examples=sizes.examples(15),
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
