"""SPEC §2 limits of bookings and their actions, through REST and the seed action API.

The clock is pinned, so "now" is exact: a start one second ahead is accepted, a start at now is not.
A refused request must leave everything as it was: the booking, its reminders, its log, the events,
and (for a refused creation) no booking and no bot user at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.conftest import Api, TestClock

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW_Z = "2030-06-01T12:00:00Z"
ONE_SECOND_AHEAD = "2030-06-01T12:00:01Z"
START = "2030-06-02T12:00:00Z"  # the booking's start in the action tests
LATER = "2030-06-03T09:30:00Z"  # a valid reschedule target
NS = "limits-user"
MISSING = object()  # marks a field left out of the body


def meta(length: int) -> str:
    """A JSON document of exactly `length` characters."""
    text = '{"note": "' + "x" * (length - 12) + '"}'
    assert len(text) == length
    return text


def assert_refused(
    response: Any, field: str | None, *, status: int = 422, code: str = "validation_error"
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error


def with_overrides(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**body, **overrides}
    return {k: v for k, v in merged.items() if v is not MISSING}


@pytest.fixture(autouse=True)
def _pinned(clock: TestClock) -> Iterator[None]:
    clock.set(NOW)
    yield


@pytest.fixture
def svc(api: Api) -> str:
    """An active 30-minute service with a reminder a day before."""
    service = factories.service(api, default_duration=30)
    factories.template(api, service["service_uid"], "reminders", title="Tomorrow", days=1)
    return str(service["service_uid"])


@pytest.fixture
def booking_id(api: Api, svc: str) -> int:
    booking = factories.booking(api, service_uid=svc, bot_user_ns=NS, start_time=START)
    return int(booking["id"])


def state(api: Api, booking_id: int) -> dict[str, Any]:
    """Everything a refused action must leave untouched."""
    parts = {
        "booking": f"/v1/bookings/{booking_id}",
        "reminders": f"/v1/bookings/{booking_id}/reminders",
        "logs": f"/v1/bookings/{booking_id}/logs",
    }
    snapshot: dict[str, Any] = {}
    for name, path in parts.items():
        response = api.get(path)
        assert response.status_code == 200, response.text
        snapshot[name] = response.json()
    snapshot["events"] = factories.events(api)
    return snapshot


def assert_nothing_created(api: Api) -> None:
    assert api.get("/v1/bookings").json()["data"] == []
    assert factories.events(api) == []
    assert api.get(f"/v1/bot-users/{NS}").status_code == 404


# --- creation (REST) ----------------------------------------------------------------------------

CREATE_ACCEPTED = [
    pytest.param({"start_time": ONE_SECOND_AHEAD}, {"start_time": ONE_SECOND_AHEAD}, id="start-1s"),
    pytest.param(
        {"start_time": "2030-06-01T14:00:01+02:00"},
        {"start_time": ONE_SECOND_AHEAD},
        id="start-1s-other-offset",
    ),
    pytest.param(
        {"duration": 0}, {"duration": 0, "end_time": "2030-06-02T12:00:00Z"}, id="duration-0"
    ),
    pytest.param(
        {"duration": 1000},
        {"duration": 1000, "end_time": "2030-06-03T04:40:00Z"},
        id="duration-1000",
    ),
    pytest.param({}, {"duration": 30, "status": "pending"}, id="defaults"),
    pytest.param({"location": "l" * 1000}, {"location": "l" * 1000}, id="location-1000"),
    pytest.param({"source": "s" * 100}, {"source": "s" * 100}, id="source-100"),
    pytest.param({"notes": "n" * 1000}, {"notes": "n" * 1000}, id="notes-1000"),
    pytest.param({"notes": "ü" * 1000}, {"notes": "ü" * 1000}, id="notes-1000-non-ascii"),
    pytest.param({"metadata": meta(5000)}, {"metadata": meta(5000)}, id="metadata-5000"),
    pytest.param(
        {"metadata": "[1, 2.5, null]"}, {"metadata": "[1, 2.5, null]"}, id="metadata-list"
    ),
    pytest.param({"status": "pending"}, {"status": "pending"}, id="status-pending"),
    pytest.param({"status": "confirmed"}, {"status": "confirmed"}, id="status-confirmed"),
]

CREATE_REFUSED = [
    pytest.param({"start_time": "2030-06-02T12:00:00"}, "start_time", id="start-naive"),
    pytest.param({"start_time": "2030-06-02"}, "start_time", id="start-date-only"),
    pytest.param({"start_time": "next tuesday"}, "start_time", id="start-garbage"),
    pytest.param({"start_time": 1907150400}, "start_time", id="start-unix-number"),
    pytest.param({"start_time": "1907150400"}, "start_time", id="start-unix-string"),
    pytest.param({"start_time": NOW_Z}, "start_time", id="start-now"),
    pytest.param({"start_time": "2030-06-01T14:00:00+02:00"}, "start_time", id="start-now-offset"),
    pytest.param({"start_time": "2030-06-01T11:59:59Z"}, "start_time", id="start-past"),
    pytest.param({"start_time": MISSING}, "start_time", id="start-missing"),
    pytest.param({"duration": -1}, "duration", id="duration-minus-1"),
    pytest.param({"duration": 1001}, "duration", id="duration-1001"),
    pytest.param({"duration": 2.5}, "duration", id="duration-fraction"),
    pytest.param({"duration": "30"}, "duration", id="duration-string"),
    pytest.param({"location": "l" * 1001}, "location", id="location-1001"),
    pytest.param({"source": "s" * 101}, "source", id="source-101"),
    pytest.param({"notes": "n" * 1001}, "notes", id="notes-1001"),
    pytest.param({"metadata": meta(5001)}, "metadata", id="metadata-5001"),
    pytest.param({"metadata": "not json"}, "metadata", id="metadata-not-json"),
    pytest.param({"metadata": '{"open": '}, "metadata", id="metadata-truncated"),
    pytest.param({"metadata": "NaN"}, "metadata", id="metadata-nan-is-not-json"),
    pytest.param({"metadata": {"a": 1}}, "metadata", id="metadata-not-a-string"),
    pytest.param({"status": "in_progress"}, "status", id="status-in_progress"),
    pytest.param({"status": "completed"}, "status", id="status-completed"),
    pytest.param({"status": "cancelled"}, "status", id="status-cancelled"),
    pytest.param({"status": "no_show"}, "status", id="status-no_show"),
    pytest.param({"status": "inactive"}, "status", id="status-inactive"),
    pytest.param({"status": "Confirmed"}, "status", id="status-wrong-case"),
]


def create_body(svc: str) -> dict[str, Any]:
    return {"service_uid": svc, "bot_user_ns": NS, "start_time": START}


@pytest.mark.parametrize(("overrides", "expected"), CREATE_ACCEPTED)
def test_create_at_the_edge_is_stored(
    api: Api, svc: str, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = api.post("/v1/bookings", with_overrides(create_body(svc), overrides))
    assert response.status_code == 201, response.text
    stored = api.get(f"/v1/bookings/{response.json()['id']}").json()
    assert {k: stored[k] for k in expected} == expected


@pytest.mark.parametrize(("overrides", "field"), CREATE_REFUSED)
def test_create_past_the_edge_writes_nothing(
    api: Api, svc: str, overrides: dict[str, Any], field: str
) -> None:
    response = api.post("/v1/bookings", with_overrides(create_body(svc), overrides))
    assert_refused(response, field)
    assert_nothing_created(api)


# --- details (PATCH) ----------------------------------------------------------------------------

DETAILS_ACCEPTED = [
    pytest.param("location", "l" * 1000, id="location-1000"),
    pytest.param("location", "", id="location-0"),
    pytest.param("source", "s" * 100, id="source-100"),
    pytest.param("notes", "n" * 1000, id="notes-1000"),
    pytest.param("metadata", meta(5000), id="metadata-5000"),
]

DETAILS_REFUSED = [
    pytest.param("location", "l" * 1001, id="location-1001"),
    pytest.param("source", "s" * 101, id="source-101"),
    pytest.param("notes", "n" * 1001, id="notes-1001"),
    pytest.param("metadata", meta(5001), id="metadata-5001"),
    pytest.param("metadata", "{'single': 'quotes'}", id="metadata-not-json"),
]


@pytest.mark.parametrize(("field", "value"), DETAILS_ACCEPTED)
def test_details_at_the_edge_are_stored(api: Api, svc: str, field: str, value: str) -> None:
    booking = factories.booking(
        api, service_uid=svc, start_time=START, location="here", source="bot", notes="hi"
    )
    response = api.patch(f"/v1/bookings/{booking['id']}", {field: value})
    assert response.status_code == 200, response.text
    assert api.get(f"/v1/bookings/{booking['id']}").json()[field] == value


@pytest.mark.parametrize(("field", "value"), DETAILS_REFUSED)
def test_details_past_the_edge_change_nothing(
    api: Api, booking_id: int, field: str, value: str
) -> None:
    before = state(api, booking_id)
    response = api.patch(f"/v1/bookings/{booking_id}", {"location": "elsewhere", field: value})
    assert_refused(response, field)
    assert state(api, booking_id) == before


# --- reschedule (REST) --------------------------------------------------------------------------

RESCHEDULE_ACCEPTED = [
    pytest.param({"start_time": ONE_SECOND_AHEAD}, {"start_time": ONE_SECOND_AHEAD}, id="start-1s"),
    pytest.param({"duration": 0}, {"duration": 0, "end_time": LATER}, id="duration-0"),
    pytest.param(
        {"duration": 1000},
        {"duration": 1000, "end_time": "2030-06-04T02:10:00Z"},
        id="duration-1000",
    ),
    pytest.param({}, {"duration": 30, "status": "pending"}, id="defaults-kept"),
    pytest.param({"status": "confirmed"}, {"status": "confirmed"}, id="status-confirmed"),
    pytest.param({"reason": "r"}, {"reschedule_reason": "r"}, id="reason-1"),
    pytest.param({"reason": "r" * 500}, {"reschedule_reason": "r" * 500}, id="reason-500"),
]

RESCHEDULE_REFUSED = [
    pytest.param({"reason": MISSING}, "reason", id="reason-missing"),
    pytest.param({"reason": ""}, "reason", id="reason-0"),
    pytest.param({"reason": None}, "reason", id="reason-null"),
    pytest.param({"reason": "r" * 501}, "reason", id="reason-501"),
    pytest.param({"start_time": MISSING}, "start_time", id="start-missing"),
    pytest.param({"start_time": "2030-06-03T09:30:00"}, "start_time", id="start-naive"),
    pytest.param({"start_time": 1907150400}, "start_time", id="start-unix-number"),
    pytest.param({"start_time": NOW_Z}, "start_time", id="start-now"),
    pytest.param({"start_time": "2030-06-01T11:00:00Z"}, "start_time", id="start-past"),
    pytest.param({"duration": -1}, "duration", id="duration-minus-1"),
    pytest.param({"duration": 1001}, "duration", id="duration-1001"),
    pytest.param({"duration": 2.5}, "duration", id="duration-fraction"),
    pytest.param({"status": "in_progress"}, "status", id="status-in_progress"),
    pytest.param({"status": "cancelled"}, "status", id="status-cancelled"),
    pytest.param({"status": "completed"}, "status", id="status-completed"),
]


def reschedule_body() -> dict[str, Any]:
    return {"start_time": LATER, "reason": "customer asked"}


@pytest.mark.parametrize(("overrides", "expected"), RESCHEDULE_ACCEPTED)
def test_reschedule_at_the_edge_is_applied(
    api: Api, booking_id: int, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = with_overrides(reschedule_body(), overrides)
    response = api.post(f"/v1/bookings/{booking_id}/reschedule", body)
    assert response.status_code == 200, response.text
    stored = api.get(f"/v1/bookings/{booking_id}").json()
    assert stored["reschedule_count"] == 1
    assert {k: stored[k] for k in expected} == expected


@pytest.mark.parametrize(("overrides", "field"), RESCHEDULE_REFUSED)
def test_reschedule_past_the_edge_changes_nothing(
    api: Api, booking_id: int, overrides: dict[str, Any], field: str
) -> None:
    before = state(api, booking_id)
    body = with_overrides(reschedule_body(), overrides)
    assert_refused(api.post(f"/v1/bookings/{booking_id}/reschedule", body), field)
    assert state(api, booking_id) == before


# --- cancel and rating (REST) -------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["r", "r" * 500, "é" * 500])
def test_cancel_reason_at_the_edge_is_kept(api: Api, booking_id: int, reason: str) -> None:
    response = api.post(f"/v1/bookings/{booking_id}/cancel", {"reason": reason})
    assert response.status_code == 200, response.text
    stored = api.get(f"/v1/bookings/{booking_id}").json()
    assert (stored["status"], stored["cancel_reason"]) == ("cancelled", reason)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="reason-missing"),
        pytest.param({"reason": ""}, id="reason-0"),
        pytest.param({"reason": None}, id="reason-null"),
        pytest.param({"reason": "r" * 501}, id="reason-501"),
    ],
)
def test_cancel_reason_past_the_edge_changes_nothing(
    api: Api, booking_id: int, body: dict[str, Any]
) -> None:
    before = state(api, booking_id)
    assert_refused(api.post(f"/v1/bookings/{booking_id}/cancel", body), "reason")
    assert state(api, booking_id) == before


@pytest.mark.parametrize("rating", [0, 5])
def test_rating_at_the_edge_is_stored(api: Api, booking_id: int, rating: int) -> None:
    response = api.post(f"/v1/bookings/{booking_id}/rating", {"rating": rating})
    assert response.status_code == 200, response.text
    assert api.get(f"/v1/bookings/{booking_id}").json()["rating"] == rating


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"rating": -1}, id="minus-1"),
        pytest.param({"rating": 6}, id="6"),
        pytest.param({"rating": 2.5}, id="fraction"),
        pytest.param({"rating": "3"}, id="string"),
        pytest.param({"rating": True}, id="bool"),
        pytest.param({"rating": None}, id="null"),
        pytest.param({}, id="missing"),
    ],
)
def test_rating_past_the_edge_changes_nothing(
    api: Api, booking_id: int, body: dict[str, Any]
) -> None:
    before = state(api, booking_id)
    assert_refused(api.post(f"/v1/bookings/{booking_id}/rating", body), "rating")
    assert state(api, booking_id) == before


# --- the seed action API: the same limits under the seed's parameter names ----------------------


def action(api: Api, name: str, params: dict[str, Any]) -> Any:
    return api.post(f"/v1/actions/{name}", params)


def seed_create(svc: str) -> dict[str, Any]:
    return {"service_uid": svc, "bot_user_ns": NS, "start_time": START}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"pending_or_confirmed": "confirmed"}, {"status": "confirmed"}, id="confirmed"
        ),
        pytest.param({"start_time": ONE_SECOND_AHEAD}, {"start_time": ONE_SECOND_AHEAD}, id="1s"),
        pytest.param({"duration": 1000}, {"duration": 1000}, id="duration-1000"),
        pytest.param({"metadata": meta(5000)}, {"metadata": meta(5000)}, id="metadata-5000"),
        pytest.param({"source": "s" * 100}, {"source": "s" * 100}, id="source-100"),
    ],
)
def test_seed_create_at_the_edge(
    api: Api, svc: str, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = action(api, "create_booking", {**seed_create(svc), **overrides})
    assert response.status_code == 200, response.text
    stored = api.get(f"/v1/bookings/{response.json()['data']['id']}").json()
    assert {k: stored[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"pending_or_confirmed": "cancelled"}, "pending_or_confirmed", id="cancelled"),
        pytest.param({"pending_or_confirmed": "in_progress"}, "pending_or_confirmed", id="in_prog"),
        pytest.param({"start_time": "2030-06-02T12:00:00"}, "start_time", id="start-naive"),
        pytest.param({"start_time": NOW_Z}, "start_time", id="start-now"),
        pytest.param({"duration": 1001}, "duration", id="duration-1001"),
        pytest.param({"duration": -1}, "duration", id="duration-minus-1"),
        pytest.param({"location": "l" * 1001}, "location", id="location-1001"),
        pytest.param({"notes": "n" * 1001}, "notes", id="notes-1001"),
        pytest.param({"metadata": meta(5001)}, "metadata", id="metadata-5001"),
        pytest.param({"metadata": "{oops}"}, "metadata", id="metadata-not-json"),
    ],
)
def test_seed_create_past_the_edge_writes_nothing(
    api: Api, svc: str, overrides: dict[str, Any], field: str
) -> None:
    assert_refused(action(api, "create_booking", {**seed_create(svc), **overrides}), field)
    assert_nothing_created(api)


SEED_ACCEPTED = [
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER, "reschedule_reason": "r" * 500},
        {"reschedule_reason": "r" * 500, "start_time": LATER, "reschedule_count": 1},
        id="reschedule-reason-500",
    ),
    pytest.param(
        "reschedule_booking",
        {
            "start_time": ONE_SECOND_AHEAD,
            "reschedule_reason": "x",
            "pending_or_confirmed": "confirmed",
        },
        {"start_time": ONE_SECOND_AHEAD, "status": "confirmed"},
        id="reschedule-1s-confirmed",
    ),
    pytest.param(
        "cancel_booking",
        {"cancel_reason": "c" * 500},
        {"cancel_reason": "c" * 500, "status": "cancelled"},
        id="cancel-reason-500",
    ),
    pytest.param("update_booking_rating", {"rating": 0}, {"rating": 0}, id="rating-0"),
    pytest.param("update_booking_rating", {"rating": 5}, {"rating": 5}, id="rating-5"),
]

SEED_REFUSED = [
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER},
        "reschedule_reason",
        id="resched-reason-missing",
    ),
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER, "reschedule_reason": ""},
        "reschedule_reason",
        id="resched-reason-0",
    ),
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER, "reschedule_reason": "r" * 501},
        "reschedule_reason",
        id="resched-reason-501",
    ),
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER, "reschedule_reason": "x", "pending_or_confirmed": "completed"},
        "pending_or_confirmed",
        id="resched-status-completed",
    ),
    pytest.param(
        "reschedule_booking",
        {"start_time": NOW_Z, "reschedule_reason": "x"},
        "start_time",
        id="resched-start-now",
    ),
    pytest.param(
        "reschedule_booking",
        {"start_time": LATER, "reschedule_reason": "x", "duration": 1001},
        "duration",
        id="resched-duration-1001",
    ),
    pytest.param("cancel_booking", {}, "cancel_reason", id="cancel-reason-missing"),
    pytest.param("cancel_booking", {"cancel_reason": ""}, "cancel_reason", id="cancel-reason-0"),
    pytest.param(
        "cancel_booking", {"cancel_reason": "c" * 501}, "cancel_reason", id="cancel-reason-501"
    ),
    pytest.param("update_booking_rating", {"rating": -1}, "rating", id="rating-minus-1"),
    pytest.param("update_booking_rating", {"rating": 6}, "rating", id="rating-6"),
    pytest.param("update_booking_rating", {"rating": 2.5}, "rating", id="rating-fraction"),
    pytest.param("update_booking_rating", {"rating": "3"}, "rating", id="rating-string"),
    pytest.param("update_booking_rating", {}, "rating", id="rating-missing"),
]


@pytest.mark.parametrize(("name", "params", "expected"), SEED_ACCEPTED)
def test_seed_action_at_the_edge_is_applied(
    api: Api, booking_id: int, name: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = action(api, name, {"booking_id": booking_id, **params})
    assert response.status_code == 200, response.text
    stored = api.get(f"/v1/bookings/{booking_id}").json()
    assert {k: stored[k] for k in expected} == expected


@pytest.mark.parametrize(("name", "params", "field"), SEED_REFUSED)
def test_seed_action_past_the_edge_changes_nothing(
    api: Api, booking_id: int, name: str, params: dict[str, Any], field: str
) -> None:
    before = state(api, booking_id)
    assert_refused(action(api, name, {"booking_id": booking_id, **params}), field)
    assert state(api, booking_id) == before
