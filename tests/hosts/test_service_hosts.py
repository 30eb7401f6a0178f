"""PUT/GET/DELETE /v1/services/{uid}/hosts on both databases: who serves a service, how one is
picked, and the resources its bookings need."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests import factories
from tests.conftest import Api


def host(api: Api, **fields: Any) -> str:
    host_uid = f"h_{secrets.token_hex(4)}"
    made = api.post("/v1/hosts", {"host_uid": host_uid, "name": f"Host {host_uid}", **fields})
    assert made.status_code == 201, made.text
    return host_uid


def service(api: Api) -> str:
    service_uid = f"s_{secrets.token_hex(4)}"
    factories.service(api, service_uid=service_uid)
    return service_uid


def test_a_service_gets_hosts_with_their_priorities_and_weights_and_a_resource(api: Api) -> None:
    uid = service(api)
    ada, bob, room = host(api), host(api), host(api, kind="resource", capacity=2)
    assert api.get(f"/v1/services/{uid}/hosts").status_code == 404  # none yet
    body = {
        "assignment": "round_robin",
        "hosts": [{"host_uid": ada, "priority": 4, "weight": 200}, {"host_uid": bob}],
        "resources": [room],
    }
    put = api.put(f"/v1/services/{uid}/hosts", body)
    assert put.status_code == 200, put.text
    got = put.json()
    assert got["assignment"] == "round_robin"
    assert [(h["host_uid"], h["priority"], h["weight"]) for h in got["hosts"]] == [
        (ada, 4, 200),
        (bob, 2, 100),
    ]
    assert [r["host_uid"] for r in got["resources"]] == [room]
    assert api.get(f"/v1/services/{uid}/hosts").json() == got


def test_a_put_replaces_the_whole_and_a_delete_leaves_the_service_without_hosts(
    api: Api,
) -> None:
    uid = service(api)
    ada, bob = host(api), host(api)
    assert api.put(f"/v1/services/{uid}/hosts", {"hosts": [{"host_uid": ada}]}).status_code == 200
    again = api.put(
        f"/v1/services/{uid}/hosts", {"assignment": "collective", "hosts": [{"host_uid": bob}]}
    )
    assert again.status_code == 200, again.text
    assert [h["host_uid"] for h in again.json()["hosts"]] == [bob]
    assert again.json()["assignment"] == "collective"
    assert api.delete(f"/v1/services/{uid}/hosts").status_code == 204
    assert api.get(f"/v1/services/{uid}/hosts").status_code == 404
    assert api.delete(f"/v1/services/{uid}/hosts").status_code == 404


def test_a_deleted_host_leaves_the_services_it_served(api: Api) -> None:
    uid = service(api)
    ada, bob = host(api), host(api)
    body = {"hosts": [{"host_uid": ada}, {"host_uid": bob}]}
    assert api.put(f"/v1/services/{uid}/hosts", body).status_code == 200
    assert api.delete(f"/v1/hosts/{ada}").status_code == 204
    assert [h["host_uid"] for h in api.get(f"/v1/services/{uid}/hosts").json()["hosts"]] == [bob]


Body = Callable[[str], dict[str, Any]]
REFUSED: list[Any] = [
    pytest.param(
        lambda p: {"hosts": [{"host_uid": "nobody"}]}, "hosts.0.host_uid", "not_found", id="unknown"
    ),
    pytest.param(
        lambda p: {"resources": [p]}, "resources.0", "not_a_resource", id="person-as-room"
    ),
    pytest.param(lambda p: {"hosts": []}, None, None, id="none"),
    pytest.param(lambda p: {"hosts": [{"host_uid": p}] * 2}, None, None, id="twice"),
    pytest.param(
        lambda p: {"hosts": [{"host_uid": p, "priority": 5}]},
        "hosts.0.priority",
        None,
        id="priority-5",
    ),
    pytest.param(
        lambda p: {"hosts": [{"host_uid": p, "weight": 0}]}, "hosts.0.weight", None, id="weight-0"
    ),
    pytest.param(
        lambda p: {"assignment": "random", "hosts": [{"host_uid": p}]},
        "assignment",
        None,
        id="mode",
    ),
]


@pytest.mark.parametrize(("body", "field", "code"), REFUSED)
def test_a_bad_assignment_is_refused_and_changes_nothing(
    api: Api, body: Body, field: str | None, code: str | None
) -> None:
    """`body` is made for a person host of the workspace, `p`."""
    uid = service(api)
    person = host(api)
    kept = api.put(f"/v1/services/{uid}/hosts", {"hosts": [{"host_uid": person}]}).json()
    response = api.put(f"/v1/services/{uid}/hosts", body(person))
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    if field is not None:
        assert field in [d["field"] for d in details], details
    if code is not None:
        assert code in [d["code"] for d in details], details
    assert api.get(f"/v1/services/{uid}/hosts").json() == kept


def test_another_service_or_workspace_is_a_404(api: Api, make_workspace: Any) -> None:
    person = host(api)
    assert api.put("/v1/services/nope/hosts", {"hosts": [{"host_uid": person}]}).status_code == 404
    other = make_workspace()
    uid = service(other)
    refused = other.put(f"/v1/services/{uid}/hosts", {"hosts": [{"host_uid": person}]})
    assert refused.status_code == 422, refused.text  # api's host is unknown to `other`
