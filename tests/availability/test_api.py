"""Availability through the API, on both backends: settings, refusals with 409 `unavailable`,
`force` and its audit row, reschedules, and the slots endpoint with its timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests import factories
from tests.conftest import Api, TestClock

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # a Friday
MONDAY = "2027-01-04"
NINE_TO_FIVE = {
    day: [{"start": "09:00", "end": "17:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def with_hours(api: Api, **settings: Any) -> str:
    uid: str = factories.service(api, default_duration=60)["service_uid"]
    body = {"weekly_hours": NINE_TO_FIVE, **settings}
    response = api.request("PUT", f"/v1/services/{uid}/availability", json=body)
    assert response.status_code == 200, response.text
    return uid


def create(api: Api, uid: str, start: str, **fields: Any) -> Any:
    return api.post(
        "/v1/bookings",
        {"service_uid": uid, "bot_user_ns": fields.pop("ns", "u1"), "start_time": start, **fields},
    )


def error(response: Any) -> tuple[str, str]:
    body = response.json()["error"]
    return body["code"], body["details"][0]["code"]


def test_settings_round_trip_with_their_defaults(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    assert api.get(f"/v1/services/{uid}/availability").status_code == 404
    body = {
        "weekly_hours": {"monday": [{"start": "09:00", "end": "12:00"}]},
        "date_overrides": [{"date": "2027-12-24"}],
    }
    saved = api.request("PUT", f"/v1/services/{uid}/availability", json=body).json()
    assert saved["capacity"] is None and saved["effective_capacity"] == 1
    assert saved["date_overrides"] == [{"date": "2027-12-24", "hours": []}]
    assert api.get(f"/v1/services/{uid}/availability").json() == saved
    only_capacity = api.request(
        "PUT", f"/v1/services/{uid}/availability", json={"capacity": 4}
    ).json()
    assert only_capacity["weekly_hours"] is None and only_capacity["effective_capacity"] == 4
    assert api.delete(f"/v1/services/{uid}/availability").status_code == 204
    assert api.get(f"/v1/services/{uid}/availability").status_code == 404


def test_bad_settings_are_a_422(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    for body in (
        {"weekly_hours": {"monday": [{"start": "12:00", "end": "09:00"}]}},
        {"weekly_hours": {"monday": [{"start": "9:00", "end": "10:00"}]}},
        {"weekly_hours": {"funday": []}},
        {"date_overrides": [{"date": "2027-01-01"}, {"date": "2027-01-01"}]},
        {"capacity": 0},
        {"slot_interval": 0},
    ):
        response = api.request("PUT", f"/v1/services/{uid}/availability", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"


def test_outside_hours_and_capacity_are_refused_with_a_reason(api: Api, clock: TestClock) -> None:
    clock.set(NOW)
    uid = with_hours(api)
    refused = create(api, uid, f"{MONDAY}T07:00:00Z")
    assert refused.status_code == 409
    assert error(refused) == ("unavailable", "outside_hours")
    assert "opening hours" in refused.json()["error"]["message"]
    assert create(api, uid, f"{MONDAY}T09:00:00Z").status_code == 201
    full = create(api, uid, f"{MONDAY}T09:30:00Z", ns="u2")
    assert full.status_code == 409 and error(full) == ("unavailable", "fully_booked")
    # Nothing of the refused ones was written.
    listed = api.get("/v1/bookings", params={"service_uid": uid}).json()["data"]
    assert len(listed) == 1


def test_force_books_anyway_and_the_log_says_so(api: Api, clock: TestClock) -> None:
    clock.set(NOW)
    uid = with_hours(api)
    forced = create(api, uid, f"{MONDAY}T07:00:00Z", force=True)
    assert forced.status_code == 201, forced.text
    logs = api.get(f"/v1/bookings/{forced.json()['id']}/logs").json()["data"]
    assert logs[0]["action"] == "create"
    assert logs[0]["details"]["forced"]["code"] == "outside_hours"
    # `force` where nothing needed overriding leaves no trace.
    plain = create(api, uid, f"{MONDAY}T10:00:00Z", force=True)
    assert plain.status_code == 201
    logs = api.get(f"/v1/bookings/{plain.json()['id']}/logs").json()["data"]
    assert "forced" not in logs[0]["details"]


def test_reschedule_is_checked_without_counting_itself(api: Api, clock: TestClock) -> None:
    clock.set(NOW)
    uid = with_hours(api)
    mine = create(api, uid, f"{MONDAY}T09:00:00Z").json()
    other = create(api, uid, f"{MONDAY}T11:00:00Z", ns="u2").json()
    # Later within its own hour: only itself overlaps, which does not count.
    moved = api.post(
        f"/v1/bookings/{mine['id']}/reschedule",
        {"start_time": f"{MONDAY}T09:30:00Z", "reason": "a bit later"},
    )
    assert moved.status_code == 200, moved.text
    onto_other = api.post(
        f"/v1/bookings/{mine['id']}/reschedule",
        {"start_time": f"{MONDAY}T10:30:00Z", "reason": "clash"},
    )
    assert onto_other.status_code == 409 and error(onto_other) == ("unavailable", "fully_booked")
    assert api.get(f"/v1/bookings/{mine['id']}").json()["start_time"] == f"{MONDAY}T09:30:00Z"
    forced = api.post(
        f"/v1/bookings/{mine['id']}/reschedule",
        {"start_time": f"{MONDAY}T10:30:00Z", "reason": "staff decides", "force": True},
    )
    assert forced.status_code == 200
    logs = api.get(f"/v1/bookings/{mine['id']}/logs").json()["data"]
    assert logs[-1]["details"]["forced"]["code"] == "fully_booked"
    # A cancelled booking frees its time.
    api.post(f"/v1/bookings/{other['id']}/cancel", {"reason": "no longer"})
    assert create(api, uid, f"{MONDAY}T12:00:00Z", ns="u3").status_code == 201


def test_notice_and_horizon_refuse_too(api: Api, clock: TestClock) -> None:
    clock.set(datetime(2027, 1, 4, 8, 0, tzinfo=UTC))
    uid = with_hours(api, min_notice=120, horizon_days=7, capacity=5)
    assert error(create(api, uid, f"{MONDAY}T09:00:00Z")) == ("unavailable", "too_soon")
    assert error(create(api, uid, "2027-01-12T09:00:00Z")) == ("unavailable", "too_far_ahead")
    assert create(api, uid, f"{MONDAY}T10:00:00Z").status_code == 201


def test_a_service_without_settings_takes_any_future_time(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    start = factories.future(days=3)
    for n in range(3):
        factories.booking(api, service_uid=uid, bot_user_ns=f"u{n}", start_time=start)


def test_the_action_api_is_checked_the_same_way(api: Api, clock: TestClock) -> None:
    clock.set(NOW)
    uid = with_hours(api)
    refused = api.post(
        "/v1/actions/create_booking",
        {"service_uid": uid, "bot_user_ns": "bot", "start_time": f"{MONDAY}T18:00:00Z"},
    )
    assert refused.status_code == 409 and error(refused) == ("unavailable", "outside_hours")


def test_slots_in_the_asked_timezone(make_workspace: Any, clock: TestClock) -> None:
    api = make_workspace(timezone="Europe/Berlin")
    clock.set(NOW)
    uid = with_hours(api, capacity=2)
    create(api, uid, "2027-01-04T09:00:00+01:00")
    answer = api.get(f"/v1/services/{uid}/slots", params={"from": MONDAY, "to": "2027-01-05"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["timezone"] == "Europe/Berlin" and body["duration"] == 60
    assert [s["start"] for s in body["data"]][:2] == [
        "2027-01-04T09:00:00+01:00",
        "2027-01-04T10:00:00+01:00",
    ]
    assert [s["remaining"] for s in body["data"]][:2] == [1, 2]
    assert len(body["data"]) == 8
    shown = api.get(
        f"/v1/services/{uid}/slots",
        params={
            "from": "2027-01-04T00:00:00Z",
            "to": "2027-01-05T00:00:00Z",
            "timezone": "America/New_York",
            "duration": 30,
        },
    ).json()
    assert shown["timezone"] == "America/New_York" and shown["duration"] == 30
    assert shown["data"][0]["start"] == "2027-01-04T03:00:00-05:00"
    assert shown["data"][0]["end"] == "2027-01-04T03:30:00-05:00"


def test_slots_across_the_berlin_spring_change(make_workspace: Any, clock: TestClock) -> None:
    api = make_workspace(timezone="Europe/Berlin")
    clock.set(NOW)
    uid = factories.service(api, default_duration=60)["service_uid"]
    every_day = {
        d: [{"start": "00:00", "end": "24:00"}]
        for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    api.request("PUT", f"/v1/services/{uid}/availability", json={"weekly_hours": every_day})
    body = api.get(
        f"/v1/services/{uid}/slots", params={"from": "2027-03-28", "to": "2027-03-29"}
    ).json()
    starts = [s["start"] for s in body["data"]]
    assert len(starts) == 23
    assert "2027-03-28T01:00:00+01:00" in starts and "2027-03-28T03:00:00+02:00" in starts
    assert not any("T02:" in s for s in starts)


def test_slot_query_errors(api: Api) -> None:
    uid = factories.service(api)["service_uid"]
    for params in (
        {"from": "2027-01-04", "to": "2027-01-03"},
        {"from": "2027-01-01", "to": "2027-06-01"},
        {"from": "2027-01-04T10:00:00"},
        {"from": "yesterday"},
        {"timezone": "Mars/Olympus"},
    ):
        response = api.get(f"/v1/services/{uid}/slots", params=params)
        assert response.status_code == 422, (params, response.text)
    assert api.get("/v1/services/nope/slots").status_code == 404


def test_a_service_without_settings_offers_every_interval(api: Api) -> None:
    uid = factories.service(api, default_duration=30)["service_uid"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    body = api.get(
        f"/v1/services/{uid}/slots",
        params={"from": factories.iso(start), "to": factories.iso(start + timedelta(hours=2))},
    ).json()
    assert len(body["data"]) == 4 and all(s["remaining"] is None for s in body["data"])


def test_the_list_available_slots_action(make_workspace: Any, clock: TestClock) -> None:
    api = make_workspace(timezone="Europe/Berlin")
    clock.set(NOW)
    uid = with_hours(api, capacity=3)
    create(api, uid, "2027-01-04T10:00:00+01:00")
    answer = api.post(
        "/v1/actions/list_available_slots",
        {
            "service_uid": uid,
            "from": MONDAY,
            "to": "2027-01-05",
            "timezone": "Asia/Tokyo",
            "duration": 120,
        },
    )
    assert answer.status_code == 200, answer.text
    slots = answer.json()["data"]
    # 09:00-17:00 Berlin with two-hour bookings every two hours: 09, 11, 13, 15 Berlin time.
    assert [s["start"] for s in slots] == [
        "2027-01-04T17:00:00+09:00",
        "2027-01-04T19:00:00+09:00",
        "2027-01-04T21:00:00+09:00",
        "2027-01-04T23:00:00+09:00",
    ]
    assert [s["remaining"] for s in slots] == [2, 3, 3, 3]  # the booking is 10:00-11:00
    bad = api.post("/v1/actions/list_available_slots", {"service_uid": uid, "to": "soon"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "to"
    number = api.post("/v1/actions/list_available_slots", {"service_uid": uid, "from": 1798761600})
    assert number.status_code == 422
    missing = api.post("/v1/actions/list_available_slots", {"service_uid": "nope"})

    assert missing.status_code == 404


def test_a_service_with_settings_can_still_be_deleted(api: Api) -> None:
    uid = with_hours(api)
    assert api.delete(f"/v1/services/{uid}").status_code == 204
    assert api.get(f"/v1/services/{uid}/availability").status_code == 404
