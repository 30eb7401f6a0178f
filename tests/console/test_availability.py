"""Availability in the console: the service page edits the settings through the API's own schema,
the booking form offers the free slots, refusals show their reason and staff may force."""

from __future__ import annotations

from datetime import UTC, datetime

from tests import factories
from tests.conftest import Api
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
