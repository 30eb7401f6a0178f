"""Times in words: the wall clock of a timezone, with its abbreviation or its offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bookd.agents.times import bot_users_named, in_words, with_local_times

WINTER = datetime(2030, 3, 5, 8, 0, tzinfo=UTC)  # a Tuesday
SUMMER = datetime(2030, 7, 5, 8, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("timezone", "winter", "summer"),
    [
        ("Europe/Berlin", "Tuesday 5 March 2030, 09:00 CET", "Friday 5 July 2030, 10:00 CEST"),
        ("America/New_York", "Tuesday 5 March 2030, 03:00 EST", "Friday 5 July 2030, 04:00 EDT"),
        ("UTC", "Tuesday 5 March 2030, 08:00 UTC", "Friday 5 July 2030, 08:00 UTC"),
        # Zones without a lettered abbreviation say their offset.
        (
            "Asia/Kathmandu",
            "Tuesday 5 March 2030, 13:45 UTC+05:45",
            "Friday 5 July 2030, 13:45 UTC+05:45",
        ),
        (
            "America/Sao_Paulo",
            "Tuesday 5 March 2030, 05:00 UTC-03:00",
            "Friday 5 July 2030, 05:00 UTC-03:00",
        ),
    ],
)
def test_a_time_in_words(timezone: str, winter: str, summer: str) -> None:
    assert in_words(WINTER, timezone) == winter
    assert in_words(SUMMER, timezone) == summer


def test_the_day_is_the_wall_clocks() -> None:
    late = datetime(2030, 3, 5, 23, 30, tzinfo=UTC)
    assert in_words(late, "Europe/Berlin") == "Wednesday 6 March 2030, 00:30 CET"
    assert in_words(late, "America/Los_Angeles") == "Tuesday 5 March 2030, 15:30 PST"


def test_each_time_gets_words_in_its_bot_users_timezone() -> None:
    answer = [
        {
            "bot_user_ns": "ada",
            "start_time": "2030-03-05T08:00:00Z",
            "created_at": "2030-01-01T00:00:00Z",
            "reminders": [{"scheduled_at": "2030-03-04T08:00:00Z", "sent_at": None}],
        },
        {"bot_user_ns": "bob", "start_time": "2030-03-05T08:00:00Z"},
        {"start": "2030-03-05T09:00:00+01:00", "end": "2030-03-05", "from": "2030-03-05"},
    ]
    assert bot_users_named(answer) == {"ada", "bob"}
    zones = {"ada": "America/New_York", "bob": "Europe/Berlin"}
    assert with_local_times(answer, "UTC", zones) == [
        {
            "bot_user_ns": "ada",
            "start_time": "2030-03-05T08:00:00Z",
            "start_time_local": "Tuesday 5 March 2030, 03:00 EST",
            "created_at": "2030-01-01T00:00:00Z",
            "reminders": [
                {
                    "scheduled_at": "2030-03-04T08:00:00Z",
                    "scheduled_at_local": "Monday 4 March 2030, 03:00 EST",
                    "sent_at": None,
                }
            ],
        },
        {
            "bot_user_ns": "bob",
            "start_time": "2030-03-05T08:00:00Z",
            "start_time_local": "Tuesday 5 March 2030, 09:00 CET",
        },
        # Neither a bot user nor a time with an offset: the default zone; a date stays a date.
        {
            "start": "2030-03-05T09:00:00+01:00",
            "start_local": "Tuesday 5 March 2030, 08:00 UTC",
            "end": "2030-03-05",
            "from": "2030-03-05",
        },
    ]
