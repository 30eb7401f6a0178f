"""Forms refuse what the API refuses, with the API's own message next to the field, and write
nothing; what they accept is what the API then shows."""

from __future__ import annotations

import html
import re

from tests import factories
from tests.conftest import Api
from tests.console.support import signed_in


def error_next_to(page: str, field_id: str) -> str:
    found = re.search(rf'id="{re.escape(field_id)}-error"[^>]*>([^<]*)<', page)
    assert found, f"no error shown for {field_id}"
    return html.unescape(found.group(1))


def api_message(api: Api, method: str, path: str, body: dict[str, object], field: str) -> str:
    response = api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    return next(d["message"] for d in response.json()["error"]["details"] if d["field"] == field)


def test_a_101_character_name_is_refused_like_the_api_does(api: Api) -> None:
    b = signed_in(api)
    body = {"name": "n" * 101, "service_uid": "long_name", "default_duration": 30}
    page = b.post("/services", {**body, "default_duration": "30", "description": ""})
    assert page.status_code == 422
    assert error_next_to(page.text, "name") == api_message(
        api, "POST", "/v1/services", body, "name"
    )
    assert 'value="long_name"' in page.text  # what was typed is kept
    assert api.get("/v1/services").json()["data"] == []


def test_service_and_templates_through_the_forms(api: Api) -> None:
    b = signed_in(api)
    created = b.post(
        "/services",
        {"name": "Consultation", "service_uid": "consult", "default_duration": "45"},
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/services/consult"
    assert "1 of 20" in b.get("/services").text
    add = b.post(
        "/services/consult/reminders",
        {"title": "Tomorrow", "days": "1", "hours": "", "minutes": ""},
    )
    assert add.status_code == 303
    too_far = b.post("/services/consult/reminders", {"title": "Far", "days": "366"})
    assert too_far.status_code == 422
    assert "at most 365 days" in error_next_to(too_far.text, "reminders-new-days")
    not_a_number = b.post("/services/consult/followups", {"title": "x", "hours": "two"})
    assert error_next_to(not_a_number.text, "followups-new-hours") == api_message(
        api, "POST", "/v1/services/consult/followups", {"title": "x", "hours": "two"}, "hours"
    )
    assert b.post("/services/consult/reminders/1", {"title": "T" * 51}).status_code == 422
    assert b.post("/services/consult/reminders/1/status").status_code == 303
    edited = b.post("/services/consult", {"name": "Consultation 45", "default_duration": "45"})
    assert edited.status_code == 303
    service = api.get("/v1/services/consult").json()
    assert service["name"] == "Consultation 45"
    (reminder,) = api.get("/v1/services/consult/reminders").json()["data"]
    assert (reminder["title"], reminder["days"], reminder["status"]) == ("Tomorrow", 1, "inactive")
    assert api.get("/v1/services/consult/followups").json()["data"] == []
    page = b.get("/services/consult?preview_at=2031-03-01T10:00").text
    assert "A booking at" in page


def test_booking_forms_ask_for_reasons_and_refuse_the_past(api: Api) -> None:
    svc = factories.service(api)
    booking = factories.booking(api, service_uid=svc["service_uid"])
    b = signed_in(api)
    url = f"/bookings/{booking['id']}"
    no_reason = b.post(f"{url}/cancel", {"reason": ""})
    assert no_reason.status_code == 422
    assert error_next_to(no_reason.text, "cancel-reason")
    past = b.post(f"{url}/reschedule", {"start_time": "2001-01-01T10:00", "reason": "moved"})
    assert past.status_code == 422
    assert error_next_to(past.text, "rs-start_time") == "start_time must be in the future"
    bad_json = b.post(f"{url}/details", {"metadata": "{not json", "location": "", "notes": ""})
    assert "JSON" in error_next_to(bad_json.text, "d-metadata")
    assert api.get(url.replace("/bookings", "/v1/bookings")).json()["version"] == booking["version"]
    assert b.post(f"{url}/complete").status_code == 303
    wrong_state = b.post(f"{url}/confirm")
    assert wrong_state.status_code == 409
    assert "cannot confirm a booking that is completed" in wrong_state.text
