"""Dates, numbers and characters in the console's addresses that its pages cannot show: an error
next to the field, the current week, or a 404 page; never a server error.

The days the console lists and offers run from 2000-01-01 to 8999-12-31: the day after or the week
around a date near the year 9999 (or the year 1) is not a date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.conftest import Api
from tests.console.support import signed_in
from tests.console.test_forms import error_next_to

A_DATE = "a date from 2000-01-01 to 8999-12-31, such as 2030-01-31"


def _this_monday() -> str:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=today.weekday())).strftime("%a %d %b %Y")


@pytest.mark.parametrize("week", ["0001-01-01", "9999-12-31", "1999-12-31", "9000-01-01"])
def test_a_week_off_the_calendar_shows_this_week(api: Api, week: str) -> None:
    page = signed_in(api).get(f"/bookings?view=week&week={week}")
    assert page.status_code == 200
    assert f"Week of {_this_monday()}" in page.text


@pytest.mark.parametrize(
    ("week", "shown"), [("2000-01-01", "Mon 27 Dec 1999"), ("8999-12-31", "Mon 30 Dec 8999")]
)
def test_the_first_and_last_weeks_of_the_calendar(
    make_workspace: Any, week: str, shown: str
) -> None:
    b = signed_in(make_workspace(timezone="Pacific/Kiritimati"))
    page = b.get(f"/bookings?view=week&week={week}")
    assert page.status_code == 200
    assert f"Week of {shown}" in page.text


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "someday"])
def test_a_filter_date_off_the_calendar_is_shown_as_an_error(
    api: Api, name: str, value: str
) -> None:
    page = signed_in(api).get("/bookings", params={name: value})
    assert page.status_code == 200
    assert A_DATE in page.text


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_new_booking_on_a_day_off_the_calendar(api: Api, day: str) -> None:
    uid = factories.service(api)["service_uid"]
    assert api.put(f"/v1/services/{uid}/availability", {"capacity": 1}).status_code == 200
    page = signed_in(api).get("/bookings/new", params={"service_uid": uid, "day": day})
    assert page.status_code == 200
    assert error_next_to(page.text, "slot-day") == A_DATE


@pytest.mark.parametrize(
    ("preview_at", "message"),
    [
        ("0001-01-01T00:00", "must not be before the year 2000"),
        ("9999-12-31T23:59", "start_time must be before the year 9000"),
    ],
)
def test_a_preview_off_the_calendar_is_shown_as_an_error(
    api: Api, preview_at: str, message: str
) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, days=365)
    page = signed_in(api).get(f"/services/{uid}", params={"preview_at": preview_at})
    assert page.status_code == 200
    assert message in error_next_to(page.text, "preview_at")


@pytest.mark.parametrize(
    "address",
    [
        "/bookings?bot_user_ns=a%00b",
        "/bookings?view=week&week=%00",
        "/bookings/new?day=2030-01-01%00",
        "/services/{uid}?preview_at=%00",
        "/services/a%00b",
    ],
)
def test_a_nul_in_an_address_is_a_404_page(api: Api, address: str) -> None:
    uid = factories.service(api)["service_uid"]
    page = signed_in(api).get(address.format(uid=uid))
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("after", ["\u00b2", "99999999999999999999", "2147483648"])
def test_a_page_cursor_that_is_no_booking_id_shows_the_first_page(api: Api, after: str) -> None:
    uid = factories.service(api)["service_uid"]
    booking = factories.booking(api, service_uid=uid)
    page = signed_in(api).get("/bookings", params={"after": after})
    assert page.status_code == 200
    assert f'href="/bookings/{booking["id"]}"' in page.text


def test_numbers_in_other_digits_are_not_numbers(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    assert api.put(f"/v1/services/{uid}/availability", {"capacity": 1}).status_code == 200
    booking = factories.booking(api, service_uid=uid, force=True)
    b = signed_in(api)
    assert (
        b.get("/bookings/new", params={"service_uid": uid, "duration": "\u00b2"}).status_code == 200
    )
    # A version the page did not write is no version: the action is not held to one.
    confirmed = b.post(f"/bookings/{booking['id']}/confirm", {"version": "\u00b2"})
    assert confirmed.status_code == 303
    assert api.get(f"/v1/bookings/{booking['id']}").json()["status"] == "confirmed"
