"""Availability in the console: the service page edits the settings through the API's own schema,
the booking form offers the free slots, refusals show their reason and staff may force."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests import factories
from tests.conftest import Api, TestClock
from tests.console.support import signed_in
from tests.console.test_forms import api_message, error_next_to

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # a Friday
MONDAY = "2027-01-04"
HOURS = {
    "open": "weekly",
    "hours_monday": "09:00-12:00, 13:00-15:00",
    "hours_tuesday": "09:00 \u2013 17:00",
    "hours_wednesday": "",
    "hours_thursday": "closed",
    "hours_friday": "",
    "hours_saturday": "",
    "hours_sunday": "",
    "date_overrides": "2027-01-05 10:00-11:00\n2027-01-11 closed",
    "capacity": "1",
    "buffer_before": "",
    "buffer_after": "15",
    "min_notice": "",
    "horizon_days": "90",
    "slot_interval": "",
}


def test_availability_is_edited_on_the_service_page(api: Api) -> None:
    uid = factories.service(api, default_duration=60)["service_uid"]
    b = signed_in(api)
    page = b.get(f"/services/{uid}").text
    assert "No availability settings" in page
    saved = b.post(f"/services/{uid}/availability", HOURS)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/services/{uid}#availability"
    settings = api.get(f"/v1/services/{uid}/availability").json()
    assert settings["weekly_hours"] == {
        "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "15:00"}],
        "tuesday": [{"start": "09:00", "end": "17:00"}],
    }
    assert settings["date_overrides"] == [
        {"date": "2027-01-05", "hours": [{"start": "10:00", "end": "11:00"}]},
        {"date": "2027-01-11", "hours": []},
    ]
    assert (settings["capacity"], settings["buffer_before"], settings["buffer_after"]) == (1, 0, 15)
    assert (settings["horizon_days"], settings["slot_interval"]) == (90, None)

    page = b.get(f"/services/{uid}").text
    assert "wall-clock times in UTC" in page
    assert "Monday: 09:00-12:00, 13:00-15:00" in page
    assert "Wednesday: closed" in page
    assert "Tue 05 Jan 2027: 10:00-11:00" in page
    assert 'value="09:00-12:00, 13:00-15:00"' in page  # the form holds what is in force

    backwards = b.post(f"/services/{uid}/availability", {**HOURS, "hours_monday": "12:00-09:00"})
    assert backwards.status_code == 422
    body = {"weekly_hours": {"monday": [{"start": "12:00", "end": "09:00"}]}}
    expected = api_message(
        api, "PUT", f"/v1/services/{uid}/availability", body, "weekly_hours.monday.0"
    )
    assert error_next_to(backwards.text, "hours_monday") == expected
    assert 'value="12:00-09:00"' in backwards.text  # what was typed is kept
    not_ranges = b.post(f"/services/{uid}/availability", {**HOURS, "hours_friday": "all day"})
    assert "expected ranges such as 09:00-12:00" in error_next_to(not_ranges.text, "hours_friday")
    bad_date = b.post(f"/services/{uid}/availability", {**HOURS, "date_overrides": "2027-02-30"})
    assert error_next_to(bad_date.text, "date_overrides").startswith("override 1: ")
    no_capacity = b.post(f"/services/{uid}/availability", {**HOURS, "capacity": "0"})
    assert error_next_to(no_capacity.text, "capacity") == api_message(
        api, "PUT", f"/v1/services/{uid}/availability", {"capacity": 0}, "capacity"
    )
    assert api.get(f"/v1/services/{uid}/availability").json() == settings  # nothing written

    around = b.post(f"/services/{uid}/availability", {"open": "always", "capacity": "3"})
    assert around.status_code == 303
    again = api.get(f"/v1/services/{uid}/availability").json()
    assert (again["weekly_hours"], again["effective_capacity"]) == (None, 3)
    assert "open around the clock" in b.get(f"/services/{uid}").text
    assert b.post(f"/services/{uid}/availability/delete").status_code == 303
    assert api.get(f"/v1/services/{uid}/availability").status_code == 404
    assert "No availability settings" in b.get(f"/services/{uid}").text


def with_hours(api: Api, **settings: object) -> str:
    """A 60-minute service open 09:00-12:00 on weekdays, capacity 1."""
    uid: str = factories.service(api, default_duration=60, name="Massage")["service_uid"]
    days = ("monday", "tuesday", "wednesday", "thursday", "friday")
    body = {"weekly_hours": {d: [{"start": "09:00", "end": "12:00"}] for d in days}, **settings}
    response = api.put(f"/v1/services/{uid}/availability", body)
    assert response.status_code == 200, response.text
    return uid


def offered(page: str) -> list[str]:
    return [v for v in re.findall(r'name="slot" value="([^"]+)"', page) if v != "other"]


def test_the_booking_form_offers_free_slots_and_a_taken_one_goes(
    api: Api, clock: TestClock
) -> None:
    clock.set(NOW)
    uid = with_hours(api, capacity=2)
    plain = factories.service(api, name="Anytime")["service_uid"]
    b = signed_in(api)
    page = b.get(f"/bookings/new?service_uid={uid}&day={MONDAY}").text
    assert offered(page) == [
        "2027-01-04T09:00:00+00:00",
        "2027-01-04T10:00:00+00:00",
        "2027-01-04T11:00:00+00:00",
    ]
    assert "Free times of Massage on Mon 04 Jan 2027 (UTC)" in page
    assert "09:00 UTC" in page and "(2 free)" in page
    assert (
        "No free time on this day." in b.get(f"/bookings/new?service_uid={uid}&day=2027-01-02").text
    )
    assert offered(b.get(f"/bookings/new?service_uid={plain}&day={MONDAY}").text) == []
    assert 'id="slot-day-error"' in b.get(f"/bookings/new?service_uid={uid}&day=someday").text

    form = {"service_uid": uid, "bot_user_ns": "u1", "day": MONDAY, "status": "pending"}
    first = b.post("/bookings", {**form, "slot": "2027-01-04T10:00:00+00:00", "start_time": ""})
    assert first.status_code == 303
    booking = api.get(first.headers["location"].replace("/bookings", "/v1/bookings")).json()
    assert booking["start_time"] == "2027-01-04T10:00:00Z"
    page = b.get(f"/bookings/new?service_uid={uid}&day={MONDAY}").text
    assert "2027-01-04T10:00:00+00:00" in offered(page)
    assert "(1 free)" in page
    second = b.post("/bookings", {**form, "bot_user_ns": "u2", "slot": "2027-01-04T10:00:00+00:00"})
    assert second.status_code == 303
    full = b.get(f"/bookings/new?service_uid={uid}&day={MONDAY}").text
    assert offered(full) == ["2027-01-04T09:00:00+00:00", "2027-01-04T11:00:00+00:00"]


def test_a_refused_booking_shows_why_and_force_books_it(api: Api, clock: TestClock) -> None:
    clock.set(NOW)
    uid = with_hours(api)
    b = signed_in(api)
    form = {
        "service_uid": uid,
        "bot_user_ns": "u1",
        "day": MONDAY,
        "slot": "other",
        "start_time": f"{MONDAY}T07:00",
    }
    refused = b.post("/bookings", form)
    assert refused.status_code == 409
    api_refusal = api.post(
        "/v1/bookings",
        {"service_uid": uid, "bot_user_ns": "u1", "start_time": f"{MONDAY}T07:00:00Z"},
    ).json()["error"]
    assert error_next_to(refused.text, "start_time") == api_refusal["details"][0]["message"]
    assert api_refusal["message"] in refused.text.replace("&#39;", "'")
    assert offered(refused.text)  # the free times are offered again
    assert 'value="2027-01-04T07:00"' in refused.text
    assert api.get("/v1/bookings").json()["data"] == []

    forced = b.post("/bookings", {**form, "force": "1"})
    assert forced.status_code == 303
    booking_url = forced.headers["location"]
    (log,) = api.get(f"/v1{booking_url}/logs").json()["data"]
    assert log["details"]["forced"]["code"] == "outside_hours"
    assert "outside_hours" in b.get(booking_url).text  # in the audit log on the page

    moved = {"start_time": "2027-01-05T18:00", "reason": "evening", "duration": "60"}
    version = str(api.get(f"/v1{booking_url}").json()["version"])
    no = b.post(f"{booking_url}/reschedule", {**moved, "version": version})
    assert no.status_code == 409
    assert "outside the service's opening hours" in error_next_to(no.text, "rs-start_time")
    yes = b.post(f"{booking_url}/reschedule", {**moved, "version": version, "force": "1"})
    assert yes.status_code == 303
    logs = api.get(f"/v1{booking_url}/logs").json()["data"]
    assert logs[-1]["action"] == "reschedule"
    assert logs[-1]["details"]["forced"]["code"] == "outside_hours"
    assert api.get(f"/v1{booking_url}").json()["start_time"] == "2027-01-05T18:00:00Z"
