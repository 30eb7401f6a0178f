"""Placeholders in reminder and follow-up texts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from bookd.bookings import render

FACTS = render.Facts(
    start_time=datetime(2030, 1, 2, 12, 30, tzinfo=UTC),
    duration=45,
    service_name="Consultation",
    location="Room 4",
    name="Ada",
    booking_id=42,
    timezone="Europe/Berlin",
)


def test_every_placeholder_in_the_given_timezone() -> None:
    text = (
        "[DATE] [TIME] | [DATETIME] | [SERVICE] | [DURATION] | [LOCATION] | [NAME] | #[BOOKING_ID]"
    )
    assert render.render(text, render.values(FACTS)) == (
        "2030-01-02 13:30 | 2030-01-02 13:30 (Europe/Berlin) | Consultation | 45 minutes | Room 4"
        " | Ada | #42"
    )


def test_unknown_placeholders_and_plain_brackets_are_left_as_written() -> None:
    table = render.values(FACTS)
    assert (
        render.render("[UNKNOWN] [time] [ TIME ] [TIME", table) == "[UNKNOWN] [time] [ TIME ] [TIME"
    )


def test_timezone_changes_the_wall_clock() -> None:
    ny = render.values(
        render.Facts(**{**FACTS.__dict__, "timezone": "America/New_York"})  # type: ignore[arg-type]
    )
    assert ny["TIME"] == "07:30"
    assert ny["DATETIME"] == "2030-01-02 07:30 (America/New_York)"
