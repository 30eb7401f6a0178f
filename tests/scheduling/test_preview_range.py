"""The schedule preview's start times: in the past too, but not so far back (or ahead) that a
reminder a year before it or a follow-up a year after it falls off the calendar. Such a start is a
422 that names the field, not an overflow in the arithmetic (a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.conftest import Api


def _field_error(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error


def _service_a_year_each_way(api: Api) -> str:
    uid = factories.service(api, default_duration=1000)["service_uid"]
    factories.template(api, uid, title="a year before", days=365)
    factories.template(api, uid, "followups", title="a year after", days=365)
    return uid


@pytest.mark.parametrize(
    "start_time",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T10:00:00+05:00",  # not even a time in UTC
        "1999-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_a_start_beyond_the_range_is_a_422(api: Api, start_time: str) -> None:
    uid = _service_a_year_each_way(api)
    response = api.get(f"/v1/services/{uid}/preview", params={"start_time": start_time})
    _field_error(response, "start_time")


def test_the_ends_of_the_range_preview_in_a_zone_far_from_utc(make_workspace: Any) -> None:
    api: Api = make_workspace(timezone="Pacific/Kiritimati")  # UTC+14
    uid = _service_a_year_each_way(api)
    first = api.get(f"/v1/services/{uid}/preview", params={"start_time": "2000-01-01T00:00:00Z"})
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["reminders"]] == ["skipped"]
    last = api.get(f"/v1/services/{uid}/preview", params={"start_time": "8999-12-31T23:59:00Z"})
    assert last.status_code == 200, last.text
    assert last.json()["end_time"] == "9000-01-01T16:39:00Z"
    assert [f["scheduled_at"] for f in last.json()["followups"]] == ["9001-01-01T16:39:00Z"]


def test_a_nul_in_the_service_uid_is_a_422(api: Api) -> None:
    response = api.get("/v1/services/a%00b/preview", params={"start_time": factories.future()})
    _field_error(response, "service_uid")
