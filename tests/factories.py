"""Small keyword-only factories that go through the API, as a client would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def future(*, days: int = 30, hours: int = 0, minutes: int = 0) -> str:
    """A start time safely in the future, on a whole minute."""
    at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(
        days=days, hours=hours, minutes=minutes
    )
    return iso(at)


def service(
    api: Api, *, service_uid: str | None = None, default_duration: int = 30, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": fields.pop("name", "Consultation"),
        "service_uid": service_uid or f"svc_{secrets.token_hex(4)}",
        "default_duration": default_duration,
        **fields,
    }
    response = api.post("/v1/services", body)
    assert response.status_code == 201, response.text
    return response.json()


def template(api: Api, service_uid: str, kind: str = "reminders", **fields: Any) -> dict[str, Any]:
    body = {"title": fields.pop("title", "Reminder"), **fields}
    response = api.post(f"/v1/services/{service_uid}/{kind}", body)
    assert response.status_code == 201, response.text
    return response.json()


def booking(
    api: Api,
    *,
    service_uid: str,
    bot_user_ns: str = "user-1",
    start_time: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "service_uid": service_uid,
        "bot_user_ns": bot_user_ns,
        "start_time": start_time or future(),
        **fields,
    }
    response = api.post("/v1/bookings", body)
    assert response.status_code == 201, response.text
    return response.json()


def events(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/events", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


@dataclass
class Customer(Api):
    """The API as a customer token sees it: every request carries the token."""

    token_id: int = 0


def customer(api: Api, *, bot_user_ns: str, **fields: Any) -> Customer:
    """A new customer token of `bot_user_ns`, issued with `api`'s key."""
    issued = api.post("/v1/customer-tokens", {"bot_user_ns": bot_user_ns, **fields})
    assert issued.status_code == 201, issued.text
    return Customer(
        client=api.client,
        workspace_id=api.workspace_id,
        key=issued.json()["token"],
        backend=api.backend,
        token_id=issued.json()["id"],
    )
