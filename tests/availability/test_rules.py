"""The slot rules, pure: opening hours, breaks, overrides, buffers, notice, horizon, capacity and
the daylight-saving days of 2027, asked directly of `bookd.availability.rules`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookd.availability.rules import Rules, Slot, refusal, slots
from tests import sizes

UTC_TZ = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2027, 1, 1, tzinfo=UTC)  # a Friday, well before every day asked about
MONDAY = date(2027, 1, 4)
H = 60  # minutes in an hour, for readable ranges
WEEKDAYS_9_TO_5 = {d: ((9 * H, 17 * H),) for d in range(5)}


def at(day: date, clock: str, tz: ZoneInfo = UTC_TZ) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    local = datetime(day.year, day.month, day.day, hours, minutes, tzinfo=tz)
    return local.astimezone(UTC)


def local_starts(found: list[Slot], tz: ZoneInfo = UTC_TZ) -> list[str]:
    return [s.start.astimezone(tz).strftime("%H:%M") for s in found]


def day_slots(
    rules: Rules,
    day: date,
    *,
    tz: ZoneInfo = UTC_TZ,
    duration: int = 60,
    busy: list[tuple[datetime, datetime]] | None = None,
    now: datetime = NOW,
) -> list[Slot]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    end = (datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)).astimezone(UTC)
    return slots(
        rules,
        tz,
        duration=timedelta(minutes=duration),
        busy=busy or [],
        now=now,
        window_start=start,
        window_end=end,
    )


def test_opening_hours_give_one_slot_per_duration() -> None:
    rules = Rules(weekly=WEEKDAYS_9_TO_5, capacity=1)
    assert local_starts(day_slots(rules, MONDAY)) == [f"{h:02d}:00" for h in range(9, 17)]
    assert day_slots(rules, MONDAY + timedelta(days=5)) == []  # Saturday: not in the week


def test_a_slot_must_end_within_its_range_and_the_interval_sets_the_grid() -> None:
    rules = Rules(weekly={0: ((9 * H, 11 * H),)}, capacity=1, interval=timedelta(minutes=20))
    assert local_starts(day_slots(rules, MONDAY, duration=45)) == [
        "09:00",
        "09:20",
        "09:40",
        "10:00",
    ]


def test_a_break_between_two_ranges_has_no_slot() -> None:
    rules = Rules(weekly={0: ((9 * H, 12 * H), (13 * H, 15 * H))}, capacity=1)
    assert local_starts(day_slots(rules, MONDAY)) == ["09:00", "10:00", "11:00", "13:00", "14:00"]
    assert refusal(
        rules, UTC_TZ, start=at(MONDAY, "11:30"), duration=timedelta(hours=1), busy=[], now=NOW
    ) == refusal(
        rules, UTC_TZ, start=at(MONDAY, "12:00"), duration=timedelta(hours=1), busy=[], now=NOW
    )
    refused = refusal(
        rules, UTC_TZ, start=at(MONDAY, "12:30"), duration=timedelta(minutes=30), busy=[], now=NOW
    )
    assert refused is not None and refused.code == "outside_hours"


def test_ranges_that_meet_are_one_range() -> None:
    rules = Rules(weekly={0: ((9 * H, 12 * H), (12 * H, 14 * H))}, capacity=1)
    # 11:30 to 12:30 crosses the seam between the two ranges and is still inside the hours.
    assert (
        refusal(
            rules, UTC_TZ, start=at(MONDAY, "11:30"), duration=timedelta(hours=1), busy=[], now=NOW
        )
        is None
    )


def test_an_override_closes_a_day_or_gives_it_other_hours() -> None:
    closed = MONDAY
    short = MONDAY + timedelta(days=1)
    rules = Rules(
        weekly=WEEKDAYS_9_TO_5,
        overrides={closed: (), short: ((10 * H, 12 * H),)},
        capacity=1,
    )
    assert day_slots(rules, closed) == []
    assert local_starts(day_slots(rules, short)) == ["10:00", "11:00"]
    # An override also opens a day the week keeps closed.
    sunday = MONDAY + timedelta(days=6)
    opened = Rules(weekly=WEEKDAYS_9_TO_5, overrides={sunday: ((8 * H, 9 * H),)})
    assert local_starts(day_slots(opened, sunday)) == ["08:00"]


def test_buffers_keep_time_free_around_each_booking() -> None:
    rules = Rules(
        weekly=WEEKDAYS_9_TO_5,
        capacity=1,
        buffer_before=timedelta(minutes=15),
        buffer_after=timedelta(minutes=30),
        interval=timedelta(minutes=15),
    )
    booked = [(at(MONDAY, "12:00"), at(MONDAY, "13:00"))]
    starts = local_starts(day_slots(rules, MONDAY, busy=booked))
    # Before it: a slot must end (plus its 30 min after) by the booking's 15 min before: 10:15.
    assert "10:15" in starts and "10:30" not in starts
    # After it: its 30 min after plus the next one's 15 min before: 13:45.
    assert "13:30" not in starts and "13:45" in starts
    assert starts[0] == "09:00" and starts[-1] == "16:00"


def test_minimum_notice_and_horizon() -> None:
    now = at(MONDAY, "10:10")
    rules = Rules(
        weekly=WEEKDAYS_9_TO_5,
        min_notice=timedelta(hours=2),
        horizon=timedelta(days=2),
    )
    assert local_starts(day_slots(rules, MONDAY, now=now)) == [f"{h:02d}:00" for h in range(13, 17)]
    wednesday = MONDAY + timedelta(days=2)
    assert local_starts(day_slots(rules, wednesday, now=now)) == ["09:00", "10:00"]
    assert day_slots(rules, wednesday + timedelta(days=1), now=now) == []
    too_soon = refusal(
        rules, UTC_TZ, start=at(MONDAY, "12:00"), duration=timedelta(hours=1), busy=[], now=now
    )
    assert too_soon is not None and too_soon.code == "too_soon"
    too_far = refusal(
        rules, UTC_TZ, start=at(wednesday, "11:00"), duration=timedelta(hours=1), busy=[], now=now
    )
    assert too_far is not None and too_far.code == "too_far_ahead"


def test_capacity_one_takes_one_booking_at_a_time() -> None:
    rules = Rules(weekly=WEEKDAYS_9_TO_5, capacity=1)
    booked = [(at(MONDAY, "10:00"), at(MONDAY, "11:00"))]
    found = day_slots(rules, MONDAY, busy=booked)
    assert "10:00" not in local_starts(found)
    assert all(s.remaining == 1 for s in found)
    full = refusal(
        rules, UTC_TZ, start=at(MONDAY, "10:30"), duration=timedelta(hours=1), busy=booked, now=NOW
    )
    assert full is not None and full.code == "fully_booked"
    # Back to back is not an overlap.
    assert (
        refusal(
            rules,
            UTC_TZ,
            start=at(MONDAY, "11:00"),
            duration=timedelta(hours=1),
            busy=booked,
            now=NOW,
        )
        is None
    )


def test_capacity_three_counts_what_overlaps_at_one_moment() -> None:
    rules = Rules(weekly=WEEKDAYS_9_TO_5, capacity=3, interval=timedelta(minutes=30))
    booked = [
        (at(MONDAY, "10:00"), at(MONDAY, "11:00")),
        (at(MONDAY, "10:00"), at(MONDAY, "11:00")),
        (at(MONDAY, "10:30"), at(MONDAY, "11:30")),
    ]
    remaining = {
        s.start.strftime("%H:%M"): s.remaining for s in day_slots(rules, MONDAY, busy=booked)
    }
    assert remaining["09:00"] == 3
    assert remaining["09:30"] == 1  # 09:30-10:30 meets the two at 10:00, ends as the third begins
    assert "10:00" not in remaining and "10:30" not in remaining
    assert remaining["11:00"] == 2  # only the 10:30 one is still running
    assert remaining["11:30"] == 3
    # Two that do not overlap each other leave room for a third beside both.
    apart = [
        (at(MONDAY, "09:00"), at(MONDAY, "10:00")),
        (at(MONDAY, "10:00"), at(MONDAY, "11:00")),
    ]
    assert {s.start.strftime("%H:%M"): s.remaining for s in day_slots(rules, MONDAY, busy=apart)}[
        "09:30"
    ] == 2


def test_zero_minute_bookings_still_take_their_instant() -> None:
    rules = Rules(weekly=WEEKDAYS_9_TO_5, capacity=1)
    booked = [(at(MONDAY, "10:00"), at(MONDAY, "10:00"))]
    full = refusal(
        rules, UTC_TZ, start=at(MONDAY, "10:00"), duration=timedelta(0), busy=booked, now=NOW
    )
    assert full is not None and full.code == "fully_booked"
    found = day_slots(rules, MONDAY, duration=0)
    assert local_starts(found)[:2] == ["09:00", "09:15"]  # no duration, no interval: 15 minutes


def test_no_settings_mean_open_around_the_clock_without_a_limit() -> None:
    rules = Rules()
    found = day_slots(rules, MONDAY, busy=[(at(MONDAY, "10:00"), at(MONDAY, "11:00"))] * 50)
    assert len(found) == 24 and all(s.remaining is None for s in found)


# --- daylight saving: 2027 --------------------------------------------------------------------

ALL_DAY = Rules(weekly={d: ((0, 24 * H),) for d in range(7)}, capacity=1)
EARLY_HOURS = Rules(weekly={6: ((H, 4 * H),)}, capacity=1, interval=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2027, 3, 28), 23),  # spring forward: 02:00 -> 03:00
        (BERLIN, date(2027, 10, 31), 25),  # fall back: 03:00 -> 02:00
        (NEW_YORK, date(2027, 3, 14), 23),
        (NEW_YORK, date(2027, 11, 7), 25),
    ],
)
def test_a_dst_day_has_every_real_hour_once(tz: ZoneInfo, day: date, hours: int) -> None:
    found = day_slots(ALL_DAY, day, tz=tz)
    starts = [s.start for s in found]
    assert len(starts) == hours
    assert len(set(starts)) == hours  # no instant twice
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(starts))
    assert all(s.end - s.start == timedelta(hours=1) for s in found)
    # The neighbour days are ordinary days.
    assert len(day_slots(ALL_DAY, day - timedelta(days=1), tz=tz)) == 24
    assert len(day_slots(ALL_DAY, day + timedelta(days=1), tz=tz)) == 24


def test_spring_forward_has_no_slot_in_the_missing_hour() -> None:
    berlin = local_starts(day_slots(EARLY_HOURS, date(2027, 3, 28), tz=BERLIN), BERLIN)
    # 01:00 to 04:00 wall-clock is two real hours: 02:00-03:00 does not exist.
    assert berlin == ["01:00", "01:30", "03:00"]  # 60 minutes each, ending by 04:00
    new_york = local_starts(day_slots(EARLY_HOURS, date(2027, 3, 14), tz=NEW_YORK), NEW_YORK)
    assert new_york == ["01:00", "01:30", "03:00"]
    gap = refusal(
        EARLY_HOURS,
        BERLIN,
        start=at(date(2027, 3, 28), "01:30", BERLIN),
        duration=timedelta(minutes=60),
        busy=[],
        now=NOW,
    )
    assert gap is None  # 01:30 CET + 1 h is 03:30 CEST: inside 01:00-04:00


def test_fall_back_offers_the_repeated_hour_twice_as_two_instants() -> None:
    for tz, day in ((BERLIN, date(2027, 10, 31)), (NEW_YORK, date(2027, 11, 7))):
        rules = Rules(weekly={6: ((H, 4 * H),)}, capacity=1)
        found = day_slots(rules, day, tz=tz)
        # 01:00 to 04:00 wall-clock is four real hours; the repeated hour comes twice, at two
        # different instants with two different offsets.
        assert len(found) == 4
        assert len({s.start for s in found}) == 4
        offsets = [s.start.astimezone(tz).utcoffset() for s in found]
        assert offsets[0] != offsets[-1]


def test_a_booking_on_the_fall_back_day_blocks_only_its_own_instant() -> None:
    day = date(2027, 10, 31)
    first_two = datetime(2027, 10, 31, 2, 0, tzinfo=BERLIN).astimezone(UTC)  # CEST
    second_two = first_two + timedelta(hours=1)  # the same wall-clock 02:00, CET
    found = day_slots(ALL_DAY, day, tz=BERLIN, busy=[(first_two, first_two + timedelta(hours=1))])
    starts = {s.start for s in found}
    assert first_two not in starts and second_two in starts


# --- properties ------------------------------------------------------------------------------

bookings_strategy = st.lists(
    st.tuples(st.integers(0, 7 * 24 * 4), st.integers(0, 8)), max_size=30
).map(
    lambda pairs: [
        (
            at(MONDAY, "00:00") + timedelta(minutes=15 * a),
            at(MONDAY, "00:00") + timedelta(minutes=15 * (a + b)),
        )
        for a, b in pairs
    ]
)


@pytest.mark.soak
@settings(max_examples=sizes.examples(60), deadline=None)
@given(
    busy=bookings_strategy,
    capacity=st.integers(1, 3),
    duration=st.sampled_from([15, 30, 45, 60]),
    before=st.sampled_from([0, 10, 15]),
    after=st.sampled_from([0, 5, 30]),
    tz=st.sampled_from([UTC_TZ, BERLIN, NEW_YORK]),
)
def test_every_offered_slot_is_accepted_and_nothing_refused_is_offered(
    busy: list[tuple[datetime, datetime]],
    capacity: int,
    duration: int,
    before: int,
    after: int,
    tz: ZoneInfo,
) -> None:
    rules = Rules(
        weekly={0: ((8 * H, 12 * H), (13 * H, 18 * H)), 2: ((9 * H, 17 * H),)},
        capacity=capacity,
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        interval=timedelta(minutes=15),
    )
    length = timedelta(minutes=duration)
    start = at(MONDAY, "00:00")
    found = slots(
        rules,
        tz,
        duration=length,
        busy=busy,
        now=NOW,
        window_start=start,
        window_end=start + timedelta(days=4),
    )
    offered = {s.start for s in found}
    for slot in found:
        assert refusal(rules, tz, start=slot.start, duration=length, busy=busy, now=NOW) is None
        assert slot.remaining is not None and 1 <= slot.remaining <= capacity
    # Every point of the 15-minute grid that is not offered is refused (the ranges start on
    # whole hours in all three timezones, so the grid of each range is this grid).
    grid = [start + timedelta(minutes=15 * i) for i in range(4 * 24 * 4)]
    for moment in grid:
        if moment not in offered:
            assert refusal(rules, tz, start=moment, duration=length, busy=busy, now=NOW) is not None
