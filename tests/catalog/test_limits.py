"""SPEC §2 limits of booking services and their templates, through the HTTP API.

Each limit is probed on both sides of its edge: the value at the edge is stored, the value just past
it is refused (422 `validation_error` naming the field, or 409 where a count or a uniqueness refuses)
and leaves the workspace as it was.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests import factories
from tests.conftest import Api

KINDS = ["reminders", "followups"]
YEAR = 365 * 24 * 60  # the largest template offset, in minutes


def uid() -> str:
    return f"svc_{secrets.token_hex(4)}"


def assert_refused(
    response: Any, field: str | None, *, status: int = 422, code: str = "validation_error"
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error


def services(api: Api) -> list[dict[str, Any]]:
    response = api.get("/v1/services", params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def templates(api: Api, service_uid: str, kind: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/services/{service_uid}/{kind}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


# --- services: one field at a time -------------------------------------------------------------

SERVICE_ACCEPTED = [
    pytest.param("name", "N", id="name-1"),
    pytest.param("name", "n" * 100, id="name-100"),
    pytest.param("name", "é" * 100, id="name-100-non-ascii"),
    pytest.param("service_uid", "a", id="uid-1"),
    pytest.param("service_uid", "u" * 50, id="uid-50"),
    pytest.param("service_uid", "AZaz09_-", id="uid-every-class"),
    pytest.param("service_uid", "-_-", id="uid-punctuation-only"),
    pytest.param("description", "", id="description-0"),
    pytest.param("description", "d" * 1000, id="description-1000"),
    pytest.param("default_duration", 0, id="duration-0"),
    pytest.param("default_duration", 1000, id="duration-1000"),
]

SERVICE_REFUSED = [
    pytest.param("name", "", id="name-0"),
    pytest.param("name", "n" * 101, id="name-101"),
    pytest.param("name", None, id="name-null"),
    pytest.param("service_uid", "", id="uid-0"),
    pytest.param("service_uid", "u" * 51, id="uid-51"),
    pytest.param("service_uid", "has space", id="uid-space"),
    pytest.param("service_uid", "dot.ted", id="uid-dot"),
    pytest.param("service_uid", "sl/ash", id="uid-slash"),
    pytest.param("service_uid", "plus+", id="uid-plus"),
    pytest.param("service_uid", "umlautä", id="uid-non-ascii"),
    pytest.param("service_uid", "trailing\n", id="uid-trailing-newline"),
    pytest.param("description", "d" * 1001, id="description-1001"),
    pytest.param("default_duration", -1, id="duration-minus-1"),
    pytest.param("default_duration", 1001, id="duration-1001"),
    pytest.param("default_duration", 2.5, id="duration-fraction"),
    pytest.param("default_duration", "30", id="duration-string"),
    pytest.param("default_duration", True, id="duration-bool"),
]


def service_body(**fields: Any) -> dict[str, Any]:
    return {"name": "Consultation", "service_uid": uid(), "default_duration": 30, **fields}


@pytest.mark.parametrize(("field", "value"), SERVICE_ACCEPTED)
def test_service_value_at_the_edge_is_stored(api: Api, field: str, value: Any) -> None:
    body = service_body(**{field: value})
    response = api.post("/v1/services", body)
    assert response.status_code == 201, response.text
    assert response.json()[field] == value
    stored = api.get(f"/v1/services/{body['service_uid']}")
    assert stored.status_code == 200, stored.text
    assert stored.json()[field] == value


@pytest.mark.parametrize(("field", "value"), SERVICE_REFUSED)
def test_service_value_past_the_edge_is_refused(api: Api, field: str, value: Any) -> None:
    response = api.post("/v1/services", service_body(**{field: value}))
    assert_refused(response, field)
    assert services(api) == []


@pytest.mark.parametrize("field", ["name", "service_uid", "default_duration"])
def test_service_required_field_missing_is_refused(api: Api, field: str) -> None:
    body = service_body()
    del body[field]
    assert_refused(api.post("/v1/services", body), field)
    assert services(api) == []


PATCH_ACCEPTED = [p for p in SERVICE_ACCEPTED if p.values[0] != "service_uid"]
PATCH_REFUSED = [
    p for p in SERVICE_REFUSED if p.values[0] in ("name", "description", "default_duration")
]
# null in a PATCH means "leave as is", so it is not a refusal there.
PATCH_REFUSED = [p for p in PATCH_REFUSED if p.values[1] is not None]


@pytest.mark.parametrize(("field", "value"), PATCH_ACCEPTED)
def test_service_patch_at_the_edge_is_stored(api: Api, field: str, value: Any) -> None:
    svc = factories.service(api, name="Before", description="before", default_duration=30)
    response = api.patch(f"/v1/services/{svc['service_uid']}", {field: value})
    assert response.status_code == 200, response.text
    assert api.get(f"/v1/services/{svc['service_uid']}").json()[field] == value


@pytest.mark.parametrize(("field", "value"), PATCH_REFUSED)
def test_service_patch_past_the_edge_changes_nothing(api: Api, field: str, value: Any) -> None:
    svc = factories.service(api, name="Before", description="before", default_duration=30)
    response = api.patch(f"/v1/services/{svc['service_uid']}", {"status": "inactive", field: value})
    assert_refused(response, field)
    assert api.get(f"/v1/services/{svc['service_uid']}").json() == svc


# --- services: uniqueness, immutability, the count ----------------------------------------------


def test_duplicate_service_uid_is_refused_in_the_workspace_but_not_in_another(
    api: Api, make_workspace: Any
) -> None:
    first = factories.service(api, service_uid="shared-uid", name="First")
    response = api.post("/v1/services", service_body(service_uid="shared-uid", name="Second"))
    assert_refused(response, "service_uid", status=409, code="conflict")
    assert services(api) == [first]

    other = make_workspace()
    theirs = factories.service(other, service_uid="shared-uid", name="Theirs")
    assert theirs["id"] != first["id"]
    assert services(other) == [theirs]
    assert services(api) == [first]


@pytest.mark.parametrize(
    "new_uid",
    [
        pytest.param("renamed", id="valid-uid"),
        pytest.param("r" * 51, id="uid-51"),
        pytest.param("bad uid", id="uid-space"),
    ],
)
def test_service_uid_cannot_change(api: Api, new_uid: str) -> None:
    svc = factories.service(api, service_uid="original", name="Before")
    response = api.patch("/v1/services/original", {"service_uid": new_uid, "name": "After"})
    assert_refused(response, "service_uid")
    assert api.get("/v1/services/original").json() == svc
    assert services(api) == [svc]


def test_service_uid_may_be_repeated_unchanged_in_a_patch(api: Api) -> None:
    factories.service(api, service_uid="original", name="Before")
    response = api.patch("/v1/services/original", {"service_uid": "original", "name": "After"})
    assert response.status_code == 200, response.text
    assert api.get("/v1/services/original").json()["name"] == "After"


def test_twenty_services_per_workspace(api: Api, make_workspace: Any) -> None:
    created = [factories.service(api, service_uid=f"svc-{n:02}") for n in range(20)]
    response = api.post("/v1/services", service_body(service_uid="svc-20"))
    assert_refused(response, None, status=409, code="limit_exceeded")
    assert services(api) == created
    assert api.get("/v1/services/svc-20").status_code == 404

    # The limit is per workspace, and a deletion frees a place.
    factories.service(make_workspace(), service_uid="svc-20")
    assert api.delete("/v1/services/svc-07").status_code == 204
    assert api.post("/v1/services", service_body(service_uid="svc-20")).status_code == 201
    assert len(services(api)) == 20


def test_a_service_with_bookings_is_not_deleted(api: Api) -> None:
    service = factories.service(api, service_uid="in-use")
    factories.template(api, "in-use", title="Soon", hours=1)
    booking = factories.booking(api, service_uid="in-use")
    response = api.delete("/v1/services/in-use")
    assert_refused(response, None, status=409, code="conflict")
    # Nothing changed: the service, its reminder and the booking are all still there.
    assert api.get("/v1/services/in-use").json() == service
    assert [t["title"] for t in api.get("/v1/services/in-use/reminders").json()["data"]] == ["Soon"]
    assert api.get(f"/v1/bookings/{booking['id']}").status_code == 200


# --- templates: one field at a time -------------------------------------------------------------

TEMPLATE_ACCEPTED = [
    pytest.param({"title": "T"}, id="title-1"),
    pytest.param({"title": "t" * 50}, id="title-50"),
    pytest.param({"title": "é" * 50}, id="title-50-non-ascii"),
    pytest.param({"description": ""}, id="description-0"),
    pytest.param({"description": "d" * 500}, id="description-500"),
    pytest.param({}, id="offset-omitted"),
    pytest.param({"days": 0, "hours": 0, "minutes": 0}, id="offset-all-zero"),
    pytest.param({"days": 365}, id="offset-365-days"),
    pytest.param({"hours": 365 * 24}, id="offset-8760-hours"),
    pytest.param({"minutes": YEAR}, id="offset-525600-minutes"),
    pytest.param({"days": 364, "hours": 23, "minutes": 60}, id="offset-365-days-mixed"),
]

TEMPLATE_REFUSED = [
    pytest.param({"title": ""}, "title", id="title-0"),
    pytest.param({"title": "t" * 51}, "title", id="title-51"),
    pytest.param({"description": "d" * 501}, "description", id="description-501"),
    pytest.param({"days": -1}, "days", id="days-negative"),
    pytest.param({"hours": -1}, "hours", id="hours-negative"),
    pytest.param({"minutes": -1}, "minutes", id="minutes-negative"),
    pytest.param({"days": 1.5}, "days", id="days-fraction"),
    pytest.param({"hours": "1"}, "hours", id="hours-string"),
    pytest.param({"days": 365, "minutes": 1}, "minutes", id="offset-365-days-plus-1-minute"),
    pytest.param({"days": 364, "hours": 24, "minutes": 1}, "minutes", id="offset-mixed-plus-1"),
    pytest.param({"hours": 365 * 24, "minutes": 1}, "minutes", id="offset-hours-plus-1-minute"),
    pytest.param({"minutes": YEAR + 1}, "minutes", id="offset-525601-minutes"),
    pytest.param({"days": 366}, "days", id="offset-366-days"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fields", TEMPLATE_ACCEPTED)
def test_template_value_at_the_edge_is_stored(api: Api, kind: str, fields: dict[str, Any]) -> None:
    svc = factories.service(api)
    body = {"title": "Reminder", **fields}
    response = api.post(f"/v1/services/{svc['service_uid']}/{kind}", body)
    assert response.status_code == 201, response.text
    expected = {"days": 0, "hours": 0, "minutes": 0, "description": "", **body, "sequence": 1}
    [stored] = templates(api, svc["service_uid"], kind)
    assert {k: stored[k] for k in expected} == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("fields", "field"), TEMPLATE_REFUSED)
def test_template_value_past_the_edge_is_refused(
    api: Api, kind: str, fields: dict[str, Any], field: str
) -> None:
    svc = factories.service(api)
    response = api.post(f"/v1/services/{svc['service_uid']}/{kind}", {"title": "R", **fields})
    assert_refused(response, field)
    assert templates(api, svc["service_uid"], kind) == []


def test_template_title_is_required(api: Api) -> None:
    svc = factories.service(api)
    assert_refused(api.post(f"/v1/services/{svc['service_uid']}/reminders", {"days": 1}), "title")
    assert templates(api, svc["service_uid"], "reminders") == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"minutes": 1}, "minutes", id="offset-merged-past-365-days"),
        pytest.param({"hours": -1}, "hours", id="hours-negative"),
        pytest.param({"title": "t" * 51}, "title", id="title-51"),
        pytest.param({"title": ""}, "title", id="title-0"),
        pytest.param({"description": "d" * 501}, "description", id="description-501"),
    ],
)
def test_template_patch_past_the_edge_changes_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    svc = factories.service(api)
    before = factories.template(api, svc["service_uid"], "followups", title="Thanks", days=365)
    path = f"/v1/services/{svc['service_uid']}/followups/1"
    assert_refused(api.patch(path, {"status": "inactive", **change}), field)
    assert api.get(path).json() == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"days": 0, "minutes": YEAR}, id="offset-525600-minutes"),
        pytest.param({"days": 364, "hours": 24}, id="offset-365-days-mixed"),
        pytest.param({"days": 0}, id="offset-all-zero"),
        pytest.param({"title": "t" * 50, "description": "d" * 500}, id="texts-at-the-edge"),
    ],
)
def test_template_patch_at_the_edge_is_stored(api: Api, change: dict[str, Any]) -> None:
    svc = factories.service(api)
    factories.template(api, svc["service_uid"], "reminders", days=365)
    path = f"/v1/services/{svc['service_uid']}/reminders/1"
    response = api.patch(path, change)
    assert response.status_code == 200, response.text
    stored = api.get(path).json()
    assert {k: stored[k] for k in change} == change


# --- templates: five of each kind, sequence = the lowest free number ----------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_five_templates_per_kind_numbered_1_to_5(api: Api, kind: str) -> None:
    svc = factories.service(api)
    uid_ = svc["service_uid"]
    made = [factories.template(api, uid_, kind, title=f"t{n}") for n in range(5)]
    assert [t["sequence"] for t in made] == [1, 2, 3, 4, 5]

    response = api.post(f"/v1/services/{uid_}/{kind}", {"title": "sixth"})
    assert_refused(response, None, status=409, code="limit_exceeded")
    assert templates(api, uid_, kind) == made

    # "5 each": the other kind still has all its places.
    other = "followups" if kind == "reminders" else "reminders"
    assert factories.template(api, uid_, other)["sequence"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_is_the_lowest_free_number(api: Api, kind: str) -> None:
    svc = factories.service(api)
    uid_ = svc["service_uid"]
    for n in range(5):
        factories.template(api, uid_, kind, title=f"t{n + 1}")

    assert api.delete(f"/v1/services/{uid_}/{kind}/2").status_code == 204
    assert factories.template(api, uid_, kind, title="new2")["sequence"] == 2

    assert api.delete(f"/v1/services/{uid_}/{kind}/4").status_code == 204
    assert api.delete(f"/v1/services/{uid_}/{kind}/1").status_code == 204
    assert factories.template(api, uid_, kind, title="new1")["sequence"] == 1
    assert factories.template(api, uid_, kind, title="new4")["sequence"] == 4
    assert [(t["sequence"], t["title"]) for t in templates(api, uid_, kind)] == [
        (1, "new1"),
        (2, "new2"),
        (3, "t3"),
        (4, "new4"),
        (5, "t5"),
    ]
    assert_refused(
        api.post(f"/v1/services/{uid_}/{kind}", {"title": "sixth"}),
        None,
        status=409,
        code="limit_exceeded",
    )
