"""Reminder and follow-up times across daylight-saving changes (SPEC §4).

`days` are calendar days in the workspace's timezone (the wall-clock time is kept), `hours` and
`minutes` are elapsed time. The switch dates used (all Sundays):

| zone             | 2026 spring | 2026 fall | 2027 spring | 2027 fall |
|------------------|-------------|-----------|-------------|-----------|
| Europe/Berlin    | Mar 29      | Oct 25    | Mar 28      | Oct 31    |
| America/New_York | Mar 8       | Nov 1     | Mar 14      | Nov 7     |

Berlin switches at 02:00 CET -> 03:00 CEST and back at 03:00 CEST -> 02:00 CET; New York at
02:00 EST -> 03:00 EDT and back at 02:00 EDT -> 01:00 EST.

The first half tests the pure policy, with the expected times written out in UTC, worked out by hand
from those rules, so that a test does not repeat the algorithm it checks. The second half goes
through the HTTP API with a workspace in each zone and states the expected times as local wall
times; the app clock is pinned to January 1 of the year, so 2026 and 2027 bookings are both in the
future whatever the real date.

Where a wall time does not exist or exists twice, bookd follows `policy.shift`: a time in the spring
gap is read with the offset before the change (so it moves forward by the gap: "02:30" becomes 03:30
summer time), a time in the fall overlap is the first of the two (summer time). Days are applied
before hours and minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookd.bookings.domain import MessageStatus
from bookd.bookings.policy import followup_time, initial_status, reminder_time
from tests import factories, sizes
from tests.conftest import Api, TestClock

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = {"Europe/Berlin": BERLIN, "America/New_York": NEW_YORK}

# (zone, switch day, "spring" | "fall")
SWITCHES = [
    ("Europe/Berlin", date(2026, 3, 29), "spring"),
    ("Europe/Berlin", date(2026, 10, 25), "fall"),
    ("America/New_York", date(2026, 3, 8), "spring"),
    ("America/New_York", date(2026, 11, 1), "fall"),
    ("Europe/Berlin", date(2027, 3, 28), "spring"),
    ("Europe/Berlin", date(2027, 10, 31), "fall"),
    ("America/New_York", date(2027, 3, 14), "spring"),
    ("America/New_York", date(2027, 11, 7), "fall"),
]
SWITCH_IDS = [f"{zone.split('/')[1]}-{day}" for zone, day, _ in SWITCHES]
# The day of a spring change has 23 hours, so the same wall time a calendar day apart is 23 hours
# apart across it; across a fall change, 25.
DAY_ACROSS = {"spring": timedelta(hours=23), "fall": timedelta(hours=25)}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def local(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    """A wall time that exists exactly once in `zone` (checked), as an aware datetime."""
    value = datetime.combine(day, time(hour, minute), tzinfo=zone)
    back = value.astimezone(UTC).astimezone(zone)
    assert back.replace(tzinfo=None) == value.replace(tzinfo=None), f"{value} is in a gap"
    assert value.replace(fold=1).utcoffset() == value.utcoffset(), f"{value} is ambiguous"
    return value


def remind(
    start: datetime, zone: ZoneInfo, *, days: int = 0, hours: int = 0, minutes: int = 0
) -> datetime:
    return reminder_time(start, days=days, hours=hours, minutes=minutes, tz=zone)


def follow(
    end: datetime, zone: ZoneInfo, *, days: int = 0, hours: int = 0, minutes: int = 0
) -> datetime:
    return followup_time(end, days=days, hours=hours, minutes=minutes, tz=zone)


# --- the premise ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "day", "season"), SWITCHES, ids=SWITCH_IDS)
def test_the_switch_days_are_the_ones_tzdata_knows(zone: str, day: date, season: str) -> None:
    tz = ZONES[zone]
    before = datetime.combine(day, time(0, 30), tzinfo=tz).utcoffset()
    after = datetime.combine(day, time(12, 0), tzinfo=tz).utcoffset()
    assert before is not None and after is not None
    assert after - before == (timedelta(hours=1) if season == "spring" else -timedelta(hours=1))


# --- reminders: days keep the wall clock, hours and minutes are elapsed ----------------------------

# An appointment at 10:00 local on the switch day (after the switch) and its "1 day before" reminder
# at 10:00 local the day before, both in UTC.
ONE_DAY_BEFORE = [
    # Berlin 2026-03-29 10:00 CEST / 2026-03-28 10:00 CET
    ("Europe/Berlin", "2026-03-29T08:00:00Z", "2026-03-28T09:00:00Z", "spring"),
    # Berlin 2026-10-25 10:00 CET / 2026-10-24 10:00 CEST
    ("Europe/Berlin", "2026-10-25T09:00:00Z", "2026-10-24T08:00:00Z", "fall"),
    # New York 2026-03-08 10:00 EDT / 2026-03-07 10:00 EST
    ("America/New_York", "2026-03-08T14:00:00Z", "2026-03-07T15:00:00Z", "spring"),
    # New York 2026-11-01 10:00 EST / 2026-10-31 10:00 EDT
    ("America/New_York", "2026-11-01T15:00:00Z", "2026-10-31T14:00:00Z", "fall"),
    ("Europe/Berlin", "2027-03-28T08:00:00Z", "2027-03-27T09:00:00Z", "spring"),
    ("Europe/Berlin", "2027-10-31T09:00:00Z", "2027-10-30T08:00:00Z", "fall"),
    ("America/New_York", "2027-03-14T14:00:00Z", "2027-03-13T15:00:00Z", "spring"),
    ("America/New_York", "2027-11-07T15:00:00Z", "2027-11-06T14:00:00Z", "fall"),
]


@pytest.mark.parametrize(("zone", "start", "expected", "season"), ONE_DAY_BEFORE)
def test_one_day_before_keeps_the_wall_clock_time(
    zone: str, start: str, expected: str, season: str
) -> None:
    tz = ZONES[zone]
    reminder = remind(utc(start), tz, days=1)
    assert reminder == utc(expected)
    assert reminder.tzinfo is UTC
    assert reminder.astimezone(tz).time() == time(10, 0) == utc(start).astimezone(tz).time()
    assert utc(start) - reminder == DAY_ACROSS[season]


@pytest.mark.parametrize(("zone", "start", "one_day", "season"), ONE_DAY_BEFORE)
def test_twenty_four_hours_before_is_elapsed_time_not_one_day(
    zone: str, start: str, one_day: str, season: str
) -> None:
    tz = ZONES[zone]
    reminder = remind(utc(start), tz, hours=24)
    assert reminder == utc(start) - timedelta(hours=24)
    assert reminder != utc(one_day)
    # Across the change the wall clock moves: 09:00 the day before in spring, 11:00 in the fall.
    assert reminder.astimezone(tz).time() == (time(9, 0) if season == "spring" else time(11, 0))
    # The same elapsed time written as minutes gives the same moment.
    assert remind(utc(start), tz, minutes=24 * 60) == reminder


@pytest.mark.parametrize(("zone", "start", "one_day", "season"), ONE_DAY_BEFORE)
def test_one_day_two_hours_before_is_the_day_first_then_two_elapsed_hours(
    zone: str, start: str, one_day: str, season: str
) -> None:
    tz = ZONES[zone]
    reminder = remind(utc(start), tz, days=1, hours=2)
    assert reminder == utc(one_day) - timedelta(hours=2)
    assert reminder.astimezone(tz).time() == time(8, 0)


def test_days_are_applied_before_the_elapsed_hours() -> None:
    """Where the order matters: 1 day 2 hours before 03:30 CEST on Berlin's spring day.

    Days first (bookd's rule): 03:30 CET on Mar 28 (02:30Z), then 2 hours -> 00:30Z (01:30 CET).
    Hours first would give 01:30Z - 2 h = 00:30 CET on Mar 29, a day earlier 00:30 CET (23:30Z).
    """
    start = utc("2026-03-29T01:30:00Z")  # 03:30 CEST
    assert start.astimezone(BERLIN).time() == time(3, 30)
    assert remind(start, BERLIN, days=1, hours=2) == utc("2026-03-28T00:30:00Z")


@pytest.mark.parametrize(
    ("zone", "start", "expected", "wall"),
    [
        # 03:10 CEST on Berlin's spring day; 30 minutes earlier is 01:40 CET: the wall clock moved
        # back 90 minutes, the real time 30.
        ("Europe/Berlin", "2026-03-29T01:10:00Z", "2026-03-29T00:40:00Z", time(1, 40)),
        # 01:10 EST (the second 01:10) on New York's fall day; 30 minutes earlier is 01:40 EDT,
        # the first pass through that hour: later on the wall clock, earlier in time.
        ("America/New_York", "2026-11-01T06:10:00Z", "2026-11-01T05:40:00Z", time(1, 40)),
        ("Europe/Berlin", "2027-03-28T01:10:00Z", "2027-03-28T00:40:00Z", time(1, 40)),
        ("America/New_York", "2027-11-07T06:10:00Z", "2027-11-07T05:40:00Z", time(1, 40)),
    ],
)
def test_minutes_are_elapsed_time_across_the_change(
    zone: str, start: str, expected: str, wall: time
) -> None:
    tz = ZONES[zone]
    reminder = remind(utc(start), tz, minutes=30)
    assert reminder == utc(expected) == utc(start) - timedelta(minutes=30)
    assert reminder.astimezone(tz).time() == wall


# --- wall times that do not exist, or exist twice ---------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # 1 day before 02:30 CEST on Mar 30 would be 02:30 on Mar 29, which Berlin skips. It is read
        # with the offset before the change (CET): 01:30Z, i.e. 03:30 CEST — moved forward by the
        # gap, 23 hours before the appointment.
        ("Europe/Berlin", "2026-03-30T00:30:00Z", "2026-03-29T01:30:00Z"),
        ("Europe/Berlin", "2027-03-29T00:30:00Z", "2027-03-28T01:30:00Z"),
        # New York: 02:30 EDT on Mar 9 -> 02:30 on Mar 8 does not exist -> read as EST: 07:30Z.
        ("America/New_York", "2026-03-09T06:30:00Z", "2026-03-08T07:30:00Z"),
        ("America/New_York", "2027-03-15T06:30:00Z", "2027-03-14T07:30:00Z"),
    ],
)
def test_a_reminder_in_the_spring_gap_moves_forward_by_the_gap(
    zone: str, start: str, expected: str
) -> None:
    tz = ZONES[zone]
    assert utc(start).astimezone(tz).time() == time(2, 30)
    reminder = remind(utc(start), tz, days=1)
    assert reminder == utc(expected)
    assert reminder.astimezone(tz).time() == time(3, 30)
    assert utc(start) - reminder == timedelta(hours=23)


@pytest.mark.parametrize(
    ("zone", "start", "expected", "wall"),
    [
        # 1 day before 02:30 CET on Oct 26 is 02:30 on Oct 25, which Berlin passes twice: the first
        # one (CEST, 00:30Z) is taken, 25 hours before the appointment.
        ("Europe/Berlin", "2026-10-26T01:30:00Z", "2026-10-25T00:30:00Z", time(2, 30)),
        ("Europe/Berlin", "2027-11-01T01:30:00Z", "2027-10-31T00:30:00Z", time(2, 30)),
        # New York: 01:30 EST on Nov 2 -> 01:30 on Nov 1 happens twice -> the first, EDT: 05:30Z.
        ("America/New_York", "2026-11-02T06:30:00Z", "2026-11-01T05:30:00Z", time(1, 30)),
        ("America/New_York", "2027-11-08T06:30:00Z", "2027-11-07T05:30:00Z", time(1, 30)),
    ],
)
def test_a_reminder_in_the_fall_overlap_takes_the_first_of_the_two(
    zone: str, start: str, expected: str, wall: time
) -> None:
    tz = ZONES[zone]
    reminder = remind(utc(start), tz, days=1)
    assert reminder == utc(expected)
    assert reminder.astimezone(tz).time() == wall
    assert reminder.astimezone(tz).fold == 0
    assert utc(start) - reminder == timedelta(hours=25)


def test_an_appointment_in_the_overlap_keeps_its_wall_time_whichever_pass_it_is() -> None:
    first = utc("2026-10-25T00:30:00Z")  # 02:30 CEST, the first 02:30 of the day
    second = utc("2026-10-25T01:30:00Z")  # 02:30 CET, the second
    assert first.astimezone(BERLIN).time() == second.astimezone(BERLIN).time() == time(2, 30)
    # Both are "02:30 on Oct 25" on the wall; a day earlier is 02:30 CEST on Oct 24 for both.
    assert remind(first, BERLIN, days=1) == utc("2026-10-24T00:30:00Z")
    assert remind(second, BERLIN, days=1) == utc("2026-10-24T00:30:00Z")


# --- follow-ups: end + offset ----------------------------------------------------------------------

# A meeting ending at 18:00 local the day before the switch; "1 day after" is 18:00 local on the
# switch day.
ONE_DAY_AFTER = [
    # Berlin 2026-03-28 18:00 CET / 2026-03-29 18:00 CEST
    ("Europe/Berlin", "2026-03-28T17:00:00Z", "2026-03-29T16:00:00Z", "spring"),
    # Berlin 2026-10-24 18:00 CEST / 2026-10-25 18:00 CET
    ("Europe/Berlin", "2026-10-24T16:00:00Z", "2026-10-25T17:00:00Z", "fall"),
    # New York 2026-03-07 18:00 EST / 2026-03-08 18:00 EDT
    ("America/New_York", "2026-03-07T23:00:00Z", "2026-03-08T22:00:00Z", "spring"),
    # New York 2026-10-31 18:00 EDT / 2026-11-01 18:00 EST
    ("America/New_York", "2026-10-31T22:00:00Z", "2026-11-01T23:00:00Z", "fall"),
    ("Europe/Berlin", "2027-03-27T17:00:00Z", "2027-03-28T16:00:00Z", "spring"),
    ("Europe/Berlin", "2027-10-30T16:00:00Z", "2027-10-31T17:00:00Z", "fall"),
    ("America/New_York", "2027-03-13T23:00:00Z", "2027-03-14T22:00:00Z", "spring"),
    ("America/New_York", "2027-11-06T22:00:00Z", "2027-11-07T23:00:00Z", "fall"),
]


@pytest.mark.parametrize(("zone", "end", "expected", "season"), ONE_DAY_AFTER)
def test_a_followup_one_day_after_keeps_the_wall_clock_time(
    zone: str, end: str, expected: str, season: str
) -> None:
    tz = ZONES[zone]
    followup = follow(utc(end), tz, days=1)
    assert followup == utc(expected)
    assert followup.astimezone(tz).time() == time(18, 0)
    assert followup - utc(end) == DAY_ACROSS[season]
    # 24 hours after is elapsed time: 17:00 local after spring forward, 19:00 after fall back.
    later = follow(utc(end), tz, hours=24)
    assert later == utc(end) + timedelta(hours=24) != followup
    assert later.astimezone(tz).time() == (time(19, 0) if season == "spring" else time(17, 0))


@pytest.mark.parametrize(
    ("zone", "end", "expected", "wall"),
    [
        # 2 hours after 01:30 CET on Berlin's spring day is 04:30 CEST (the wall clock moves 3 h).
        ("Europe/Berlin", "2026-03-29T00:30:00Z", "2026-03-29T02:30:00Z", time(4, 30)),
        # 2 hours after 00:30 EDT on New York's fall day is 01:30 EST (the wall clock moves 1 h).
        ("America/New_York", "2026-11-01T04:30:00Z", "2026-11-01T06:30:00Z", time(1, 30)),
        ("Europe/Berlin", "2027-03-28T00:30:00Z", "2027-03-28T02:30:00Z", time(4, 30)),
        ("America/New_York", "2027-11-07T04:30:00Z", "2027-11-07T06:30:00Z", time(1, 30)),
    ],
)
def test_followup_hours_are_elapsed_time(zone: str, end: str, expected: str, wall: time) -> None:
    tz = ZONES[zone]
    followup = follow(utc(end), tz, hours=2)
    assert followup == utc(expected) == utc(end) + timedelta(hours=2)
    assert followup.astimezone(tz).time() == wall


@pytest.mark.parametrize(
    ("zone", "end", "expected", "wall"),
    [
        # Gap: 1 day after 02:30 CET on Mar 28 is 02:30 on Mar 29, which does not exist; read as
        # CET it is 01:30Z = 03:30 CEST, exactly 24 hours later.
        ("Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", time(3, 30)),
        ("America/New_York", "2027-03-13T07:30:00Z", "2027-03-14T07:30:00Z", time(3, 30)),
        # Overlap: 1 day after 02:30 CEST on Oct 24 is the first 02:30 of Oct 25 (CEST): 24 hours.
        ("Europe/Berlin", "2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", time(2, 30)),
        ("America/New_York", "2027-11-06T05:30:00Z", "2027-11-07T05:30:00Z", time(1, 30)),
    ],
)
def test_a_followup_in_the_gap_or_the_overlap(
    zone: str, end: str, expected: str, wall: time
) -> None:
    tz = ZONES[zone]
    followup = follow(utc(end), tz, days=1)
    assert followup == utc(expected)
    assert followup.astimezone(tz).time() == wall
    assert followup - utc(end) == timedelta(hours=24)


# --- without a change in between, it is plain arithmetic --------------------------------------------


@pytest.mark.soak
@settings(max_examples=sizes.examples(150), deadline=None)
@given(
    day=st.dates(min_value=date(2026, 4, 20), max_value=date(2026, 9, 30)),
    minute_of_day=st.integers(0, 24 * 60 - 1),
    days=st.integers(0, 14),
    hours=st.integers(0, 48),
    minutes=st.integers(0, 600),
    zone=st.sampled_from(sorted(ZONES)),
)
def test_between_changes_the_offset_is_plain_subtraction_and_addition(
    day: date, minute_of_day: int, days: int, hours: int, minutes: int, zone: str
) -> None:
    # Late April to September, ±17 days stays inside summer time in both zones.
    tz = ZONES[zone]
    start = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(minutes=minute_of_day)
    offset = timedelta(days=days, hours=hours, minutes=minutes)
    assert remind(start, tz, days=days, hours=hours, minutes=minutes) == start - offset
    assert follow(start, tz, days=days, hours=hours, minutes=minutes) == start + offset


@pytest.mark.soak
@settings(max_examples=sizes.examples(150), deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    days=st.integers(0, 365),
    hours=st.integers(0, 100),
    minutes=st.integers(0, 1000),
    zone=st.sampled_from([*sorted(ZONES), "UTC", "Asia/Kolkata"]),
)
def test_hours_and_minutes_alone_are_always_elapsed_and_days_keep_the_wall_clock(
    start: datetime, days: int, hours: int, minutes: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    start = start.replace(microsecond=0)
    elapsed = timedelta(hours=hours, minutes=minutes)
    assert remind(start, tz, hours=hours, minutes=minutes) == start - elapsed
    assert follow(start, tz, hours=hours, minutes=minutes) == start + elapsed
    # Days alone: same wall time `days` calendar days away, unless that wall time is in a gap or
    # an overlap (covered above).
    for moved, sign in ((remind(start, tz, days=days), -1), (follow(start, tz, days=days), 1)):
        wall = start.astimezone(tz).replace(tzinfo=None) + sign * timedelta(days=days)
        candidate = wall.replace(tzinfo=tz)
        exists_once = (
            candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
            and candidate.replace(fold=1).utcoffset() == candidate.utcoffset()
        )
        if exists_once:
            assert moved.astimezone(tz).replace(tzinfo=None) == wall
        assert moved.tzinfo is UTC


def test_a_zero_offset_is_the_anchor_itself() -> None:
    anchor = utc("2026-03-29T01:30:00Z")
    assert remind(anchor, BERLIN) == anchor
    assert follow(anchor, BERLIN) == anchor


def test_an_anchor_given_in_another_offset_is_the_same_instant() -> None:
    in_tokyo = datetime(2026, 10, 25, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 09:00Z, 10:00 CET
    assert remind(in_tokyo, BERLIN, days=1) == utc("2026-10-24T08:00:00Z")
    assert remind(in_tokyo, BERLIN, days=1).tzinfo is UTC


# --- initial status -----------------------------------------------------------------------------


def test_initial_status_is_pending_from_now_on_and_skipped_before() -> None:
    now = utc("2026-10-25T01:30:00Z")
    assert initial_status(now + timedelta(seconds=1), now) is MessageStatus.PENDING
    assert initial_status(now, now) is MessageStatus.PENDING
    assert initial_status(now - timedelta(seconds=1), now) is MessageStatus.SKIPPED
    # Across the overlap the wall clock goes back, but the comparison is in real time.
    first_0230 = utc("2026-10-25T00:30:00Z")
    assert initial_status(first_0230, now) is MessageStatus.SKIPPED


# --- through the HTTP API ---------------------------------------------------------------------


REMINDERS = [
    {"title": "One day", "days": 1},
    {"title": "One day two hours", "days": 1, "hours": 2},
    {"title": "24 hours", "hours": 24},
    {"title": "30 minutes", "minutes": 30},
]
FOLLOWUPS = [
    {"title": "Next day", "days": 1},
    {"title": "Two hours", "hours": 2},
]


def by_sequence(api: Api, booking_id: int, kind: str) -> dict[int, dict[str, Any]]:
    response = api.get(f"/v1/bookings/{booking_id}/{kind}")
    assert response.status_code == 200, response.text
    return {m["sequence"]: m for m in response.json()["data"]}


def dst_service(api: Api) -> str:
    svc = factories.service(api, default_duration=60)
    for body in REMINDERS:
        created = factories.template(api, svc["service_uid"], "reminders", **body)
        assert created["sequence"] == REMINDERS.index(body) + 1
    for body in FOLLOWUPS:
        created = factories.template(api, svc["service_uid"], "followups", **body)
        assert created["sequence"] == FOLLOWUPS.index(body) + 1
    uid: str = svc["service_uid"]
    return uid


def complete_after_end(api: Api, clock: TestClock, booking: dict[str, Any]) -> None:
    clock.set(utc(booking["end_time"]) + timedelta(minutes=1))
    response = api.post(f"/v1/bookings/{booking['id']}/complete")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"


@pytest.mark.parametrize(("zone", "day", "season"), SWITCHES, ids=SWITCH_IDS)
def test_reminders_and_followups_through_the_api(
    make_workspace: Callable[..., Api], clock: TestClock, zone: str, day: date, season: str
) -> None:
    tz = ZONES[zone]
    clock.set(datetime(day.year, 1, 1, tzinfo=UTC))
    api = make_workspace(timezone=zone)
    uid = dst_service(api)
    before = day - timedelta(days=1)

    # A 10:00-11:00 appointment on the switch day: the reminders cross the change.
    on_switch_day = factories.booking(
        api, service_uid=uid, start_time=factories.iso(local(tz, day, 10))
    )
    start = utc(on_switch_day["start_time"])
    assert on_switch_day["end_time"] == factories.iso(local(tz, day, 11))
    reminders = by_sequence(api, on_switch_day["id"], "reminders")
    assert {n: r["scheduled_at"] for n, r in reminders.items()} == {
        1: factories.iso(local(tz, before, 10)),  # 1 day: 10:00 the day before
        2: factories.iso(local(tz, before, 8)),  # 1 day 2 hours: 08:00 the day before
        3: factories.iso(start - timedelta(hours=24)),  # 24 hours: elapsed
        4: factories.iso(start - timedelta(minutes=30)),  # 30 minutes: 09:30 the same day
    }
    assert start - utc(reminders[1]["scheduled_at"]) == DAY_ACROSS[season]
    assert reminders[3]["scheduled_at"] != reminders[1]["scheduled_at"]
    assert {r["status"] for r in reminders.values()} == {"pending"}
    assert [r["title"] for _n, r in sorted(reminders.items())] == [b["title"] for b in REMINDERS]

    # A 10:00-11:00 appointment the day before: its "next day" follow-up crosses the change.
    day_before = factories.booking(
        api,
        service_uid=uid,
        bot_user_ns="user-2",
        start_time=factories.iso(local(tz, before, 10)),
    )
    end = utc(day_before["end_time"])
    assert by_sequence(api, day_before["id"], "followups") == {}
    complete_after_end(api, clock, day_before)
    followups = by_sequence(api, day_before["id"], "followups")
    assert {n: f["scheduled_at"] for n, f in followups.items()} == {
        1: factories.iso(local(tz, day, 11)),  # 1 day: 11:00 on the switch day
        2: factories.iso(end + timedelta(hours=2)),  # 2 hours: elapsed
    }
    assert utc(followups[1]["scheduled_at"]) - end == DAY_ACROSS[season]
    assert {f["status"] for f in followups.values()} == {"pending"}
    # Its reminders were due before the end and never sent (no scheduler here): now skipped.
    assert {r["status"] for r in by_sequence(api, day_before["id"], "reminders").values()} == {
        "skipped"
    }

    # The switch-day appointment's follow-ups lie after the change: a plain day later.
    complete_after_end(api, clock, on_switch_day)
    after = day + timedelta(days=1)
    followups = by_sequence(api, on_switch_day["id"], "followups")
    assert {n: f["scheduled_at"] for n, f in followups.items()} == {
        1: factories.iso(local(tz, after, 11)),
        2: factories.iso(local(tz, day, 13)),
    }
    assert utc(followups[1]["scheduled_at"]) - utc(on_switch_day["end_time"]) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Spring gap: "1 day before 02:30" on the day after the change -> 03:30 on the switch day.
        ("Europe/Berlin", "2027-03-29T00:30:00Z", "2027-03-28T01:30:00Z"),
        ("America/New_York", "2027-03-15T06:30:00Z", "2027-03-14T07:30:00Z"),
        # Fall overlap: -> the first of the two wall times (summer time).
        ("Europe/Berlin", "2027-11-01T01:30:00Z", "2027-10-31T00:30:00Z"),
        ("America/New_York", "2027-11-08T06:30:00Z", "2027-11-07T05:30:00Z"),
    ],
)
def test_a_reminder_in_the_gap_or_the_overlap_through_the_api(
    make_workspace: Callable[..., Api], clock: TestClock, zone: str, start: str, expected: str
) -> None:
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    api = make_workspace(timezone=zone)
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], "reminders", days=1)
    booking = factories.booking(api, service_uid=svc["service_uid"], start_time=start)
    (reminder,) = by_sequence(api, booking["id"], "reminders").values()
    assert reminder["scheduled_at"] == expected
    assert reminder["status"] == "pending"


def test_the_same_booking_in_utc_has_no_shift(
    make_workspace: Callable[..., Api], clock: TestClock
) -> None:
    """Control: the workspace's timezone is what moves the reminder, not the booking's date."""
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    api = make_workspace(timezone="UTC")
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], "reminders", days=1)
    booking = factories.booking(
        api, service_uid=svc["service_uid"], start_time="2027-03-28T08:00:00Z"
    )
    (reminder,) = by_sequence(api, booking["id"], "reminders").values()
    assert reminder["scheduled_at"] == "2027-03-27T08:00:00Z"
