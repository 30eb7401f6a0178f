"""A body not sent as JSON (curl's `-d` alone sends a form; a client may send no Content-Type) is
refused with a 422 that says to send JSON, and changes nothing."""

from __future__ import annotations

import json

from tests.conftest import Api

SERVICE = '{"name": "Consultation", "service_uid": "consultation_30min", "default_duration": 30}'


def test_a_form_body_is_told_to_send_json(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/services",
        content=SERVICE,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "Content-Type: application/json" in error["message"]
    assert error["details"] == [{"field": "body", "code": "not_json", "message": error["message"]}]
    assert api.get("/v1/services").json()["data"] == []


def test_json_without_a_content_type_is_told_the_same(api: Api) -> None:
    response = api.request("POST", "/v1/services", content=SERVICE)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["code"] == "not_json"
    assert api.post("/v1/services", json=json.loads(SERVICE)).status_code == 201


def test_bad_json_fields_keep_their_own_errors(api: Api) -> None:
    response = api.request(
        "POST",
        "/v1/services",
        content='{"name": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert "service_uid" in fields and "body" not in fields
