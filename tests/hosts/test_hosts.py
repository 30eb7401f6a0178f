"""/v1/hosts on both databases: the people and resources bookings will hold. Creation with its
defaults, changes, the refusals (each leaving the host as it was) and the per-workspace limit."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.conftest import Api


def assert_refused(
    response: Any, field: str | None, *, status: int = 422, code: str = "validation_error"
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert field in [d["field"].split(".")[0] for d in error["details"]], error


def uid() -> str:
    return f"host_{secrets.token_hex(4)}"


def created(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/hosts", {"host_uid": uid(), "name": "Dr. Ada", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


WEEK = {
    "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
    "friday": [{"start": "09:00", "end": "13:00"}],
}


def test_a_host_takes_the_workspace_timezone_and_a_persons_defaults(
    make_workspace: Any,
) -> None:
    api = make_workspace(timezone="Europe/Berlin")
    host = created(api)
    assert host["timezone"] == "Europe/Berlin"
    assert (host["kind"], host["capacity"], host["active"]) == ("person", 1, True)
    assert host["weekly_hours"] is None  # around the clock
    assert (host["date_overrides"], host["time_off"]) == ([], [])
    assert (host["buffer_before"], host["buffer_after"]) == (0, 0)
    assert (host["max_bookings_per_day"], host["max_minutes_per_day"]) == (None, None)
    assert api.get(f"/v1/hosts/{host['host_uid']}").json() == host


def test_hours_time_off_and_limits_are_kept_as_given(api: Api) -> None:
    host = created(
        api,
        kind="resource",
        name="Room 2",
        timezone="America/New_York",
        capacity=3,
        weekly_hours=WEEK,
        date_overrides=[{"date": "2031-12-24", "hours": []}],
        time_off=[
            {"start": "2031-08-10T00:00:00+02:00", "end": "2031-08-20T00:00:00+02:00"},
            {"start": "2031-07-01T09:00:00Z", "end": "2031-07-01T12:00:00Z", "reason": "dentist"},
        ],
        buffer_before=10,
        buffer_after=15,
        max_bookings_per_day=8,
        max_minutes_per_day=360,
    )
    assert host["weekly_hours"] == WEEK
    assert host["date_overrides"] == [{"date": "2031-12-24", "hours": []}]
    # In UTC, in start order.
    assert host["time_off"] == [
        {"start": "2031-07-01T09:00:00Z", "end": "2031-07-01T12:00:00Z", "reason": "dentist"},
        {"start": "2031-08-09T22:00:00Z", "end": "2031-08-19T22:00:00Z", "reason": ""},
    ]
    assert (host["capacity"], host["buffer_before"], host["buffer_after"]) == (3, 10, 15)
    assert (host["max_bookings_per_day"], host["max_minutes_per_day"]) == (8, 360)


def test_a_patch_changes_what_it_names_and_null_clears_the_optional_fields(api: Api) -> None:
    host = created(api, email="ada@example.org", weekly_hours=WEEK, max_bookings_per_day=4)
    path = f"/v1/hosts/{host['host_uid']}"
    patched = api.patch(path, {"name": "Dr. Ada L.", "email": None, "weekly_hours": None})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert (after["name"], after["email"], after["weekly_hours"]) == ("Dr. Ada L.", None, None)
    assert after["max_bookings_per_day"] == 4  # left out: unchanged
    again = api.patch(path, {"max_bookings_per_day": None, "active": False, "buffer_after": 5})
    assert again.status_code == 200, again.text
    assert (again.json()["max_bookings_per_day"], again.json()["active"]) == (None, False)
    assert again.json()["buffer_after"] == 5
    assert api.get(path).json() == again.json()


def test_listing_pages_in_creation_order(api: Api) -> None:
    made = [created(api, name=f"Host {n}")["host_uid"] for n in range(3)]
    first = api.get("/v1/hosts", params={"limit": 2})
    assert first.status_code == 200, first.text
    rest = api.get("/v1/hosts", params={"limit": 2, "cursor": first.json()["next_cursor"]})
    listed = [h["host_uid"] for h in first.json()["data"] + rest.json()["data"]]
    assert listed[-3:] == made
    assert rest.json()["next_cursor"] is None


def test_a_host_is_deleted(api: Api) -> None:
    host = created(api)
    assert api.delete(f"/v1/hosts/{host['host_uid']}").status_code == 204
    assert_refused(api.get(f"/v1/hosts/{host['host_uid']}"), None, status=404, code="not_found")


REFUSED_CREATIONS = [
    pytest.param({"host_uid": "has space"}, "host_uid", id="uid-pattern"),
    pytest.param({"host_uid": "u" * 51}, "host_uid", id="uid-51"),
    pytest.param({"name": ""}, "name", id="name-empty"),
    pytest.param({"name": "n" * 101}, "name", id="name-101"),
    pytest.param({"kind": "robot"}, "kind", id="kind"),
    pytest.param({"timezone": "Mars/Olympus"}, "timezone", id="timezone"),
    pytest.param({"capacity": 2}, "capacity", id="person-capacity-2"),
    pytest.param({"kind": "resource", "capacity": 1001}, "capacity", id="capacity-1001"),
    pytest.param({"buffer_before": 1441}, "buffer_before", id="buffer-1441"),
    pytest.param({"max_bookings_per_day": 0}, "max_bookings_per_day", id="daily-bookings-0"),
    pytest.param({"max_minutes_per_day": 1441}, "max_minutes_per_day", id="daily-minutes-1441"),
    pytest.param(
        {"weekly_hours": {"monday": [{"start": "17:00", "end": "09:00"}]}},
        "weekly_hours",
        id="hours-reversed",
    ),
    pytest.param({"weekly_hours": {"someday": []}}, "weekly_hours", id="weekday"),
    pytest.param(
        {"time_off": [{"start": "2031-07-02T00:00:00Z", "end": "2031-07-01T00:00:00Z"}]},
        "time_off",
        id="time-off-reversed",
    ),
    pytest.param(
        {"time_off": [{"start": "2031-07-01T00:00:00", "end": "2031-07-02T00:00:00Z"}]},
        "time_off",
        id="time-off-naive",
    ),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("fields", "field"), REFUSED_CREATIONS)
def test_a_bad_host_is_refused_on_its_field_and_not_stored(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    before = api.get("/v1/hosts", params={"limit": 200}).json()
    body = {"host_uid": uid(), "name": "Dr. Ada", **fields}
    response = api.post("/v1/hosts", body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"].split(".")[0] == field for d in error["details"]), error
    assert api.get("/v1/hosts", params={"limit": 200}).json() == before


def test_a_taken_uid_is_a_conflict(api: Api) -> None:
    host = created(api)
    again = api.post("/v1/hosts", {"host_uid": host["host_uid"], "name": "Another"})
    assert_refused(again, "host_uid", status=409, code="conflict")
    assert api.get(f"/v1/hosts/{host['host_uid']}").json() == host


@pytest.mark.parametrize(
    ("patch", "field", "code"),
    [
        pytest.param({"host_uid": "renamed"}, "host_uid", "immutable", id="uid"),
        pytest.param({"capacity": 2}, "capacity", "person_capacity", id="person-capacity"),
        pytest.param({"name": ""}, "name", "string_too_short", id="name-empty"),
    ],
)
def test_a_bad_patch_is_refused_and_changes_nothing(
    api: Api, patch: dict[str, Any], field: str, code: str
) -> None:
    host = created(api)
    path = f"/v1/hosts/{host['host_uid']}"
    response = api.patch(path, patch)
    assert_refused(response, field)
    assert code in [d["code"] for d in response.json()["error"]["details"]]
    assert api.get(path).json() == host


def test_a_resource_with_places_cannot_become_a_person(api: Api) -> None:
    room = created(api, kind="resource", capacity=4)
    path = f"/v1/hosts/{room['host_uid']}"
    assert_refused(api.patch(path, {"kind": "person"}), "kind")
    changed = api.patch(path, {"kind": "person", "capacity": 1})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["capacity"]) == ("person", 1)


def test_a_workspace_has_at_most_the_limit_of_hosts(make_workspace: Any) -> None:
    api = make_workspace()
    for n in range(200):  # docs/hosts.md: at most 200 hosts
        assert api.post("/v1/hosts", {"host_uid": f"h{n}", "name": "H"}).status_code == 201
    assert_refused(
        api.post("/v1/hosts", {"host_uid": "one-more", "name": "H"}),
        None,
        status=409,
        code="limit_exceeded",
    )


def test_the_list_hosts_action_answers_what_the_api_lists(make_workspace: Any) -> None:
    api = make_workspace()
    created(api, weekly_hours=WEEK)
    created(api, kind="resource", capacity=2, active=False)
    action = api.post("/v1/actions/list_hosts")
    assert action.status_code == 200, action.text
    assert action.json()["data"] == api.get("/v1/hosts").json()["data"]
