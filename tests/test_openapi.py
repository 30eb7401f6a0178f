"""The OpenAPI document against the running app: schemathesis fuzzes every operation, on both backends.

Every generated request carries a valid API key. Path parameters, some body fields and the action
API's bodies are sometimes swapped for objects seeded in that workspace (or one of another
workspace), so the fuzzer reaches the 2xx and 409 answers and not only 404s and 422s. Every answer
must be no 5xx, have a documented status code and content type, and match its documented schema.

Checks left out, on purpose: `negative_data_rejection` and `positive_data_acceptance` judge whether
the app agrees with schemathesis about which inputs are valid. The document cannot say everything
the service checks (a start time must lie in the future; `service_uid` or `service_id`, one of them;
`metadata` must parse as JSON; a booking id must exist), so both report answers that are right
(a 422 for a past start time, a 404 for an unknown id) as failures. `max_response_time` and
`use_after_free` and the other stateful checks are not about the contract of one answer.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.actions.endpoints import ActionName
from bookd.app import create_app
from bookd.bookings import service as bookings
from bookd.bookings.schemas import BookingCreate
from bookd.catalog import service as catalog
from bookd.catalog.schemas import ServiceCreate, TemplateCreate
from bookd.config import Settings
from bookd.webhooks import service as webhooks
from bookd.webhooks.guard import Guard
from bookd.webhooks.schemas import TriggerCreate
from bookd.workspaces.models import Workspace
from tests import factories, sizes
from tests.conftest import Api, new_workspace

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# The document as the app serves it at /openapi.json. It does not depend on the database; which
# backend answers the generated requests is chosen per test (`app=` in the test below). This app
# never opens its database.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(database_url="sqlite://", db_pool_size=0))
)


@dataclass(frozen=True)
class Seed:
    """Real objects of the fuzzed workspace, and of another workspace, for the fuzzer to aim at."""

    key: str
    service_uid: str
    booking_ids: tuple[int, ...]
    bot_user_ns: str
    foreign_booking_id: int
    foreign_service_uid: str
    trigger_id: int
    delivery_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="session")
def fuzzed_app(database_url: str) -> FastAPI:
    # NullPool: schemathesis drives the app from an event loop of its own, not the test client's.
    # Webhooks to 127.0.0.1 are allowed so that a trigger can be seeded without a network; nothing
    # here delivers them (no worker runs in this app).
    settings = Settings(database_url=database_url, db_pool_size=0, webhook_allow_hosts="127.0.0.1")
    return create_app(settings)


@pytest.fixture
def seed(client: TestClient, backend: str) -> Iterator[Seed]:
    """A fresh workspace per operation: a service with templates of both kinds, four bookings, a
    paused trigger with one test delivery; and a booking of another workspace. Made through the
    services in one transaction (what the requests themselves do is the fuzzer's subject).

    Its triggers are deleted afterwards, with their deliveries: nothing delivers them here, but
    other tests' workers deliver whatever is due in this database and count what they sent."""
    api = new_workspace(client, backend=backend)
    other = new_workspace(client, backend=backend)
    ns = f"fuzz-{secrets.token_hex(3)}"
    uid, other_uid = f"svc_{secrets.token_hex(4)}", f"svc_{secrets.token_hex(4)}"

    async def make(session: AsyncSession) -> Seed:
        now = datetime.now(UTC)

        async def booked(workspace_id: int, service_uid: str, days: int) -> int:
            workspace = await session.get(Workspace, workspace_id)
            assert workspace is not None
            ctx = bookings.Context(session=session, workspace=workspace, actor="seed", now=now)
            body = BookingCreate(
                service_uid=service_uid, bot_user_ns=ns, start_time=now + timedelta(days=days)
            )
            return (await bookings.create_booking(ctx, body)).booking.id

        for workspace_id, service_uid in ((api.workspace_id, uid), (other.workspace_id, other_uid)):
            service = ServiceCreate(
                name="Consultation", service_uid=service_uid, default_duration=30
            )
            await catalog.create_service(session, workspace_id, service, now)
        for kind in ("reminder", "followup"):
            for template in (
                TemplateCreate(title="Reminder", days=1),
                TemplateCreate(title="Reminder", hours=2, status="inactive"),
            ):
                await catalog.create_template(session, api.workspace_id, uid, kind, template, now)
        ids = tuple([await booked(api.workspace_id, uid, days) for days in (3, 5, 7, 9)])
        foreign = await booked(other.workspace_id, other_uid, 30)
        hook = TriggerCreate.model_validate(
            {"name": "fuzz", "url": "http://127.0.0.1:9/hook", "status": "paused"}
        )
        trigger = await webhooks.create_trigger(
            session, api.workspace_id, hook, Guard(allow_private=True), now
        )
        delivery = await webhooks.send_test_event(session, api.workspace_id, trigger.id, now)
        return Seed(
            key=api.key,
            service_uid=uid,
            booking_ids=ids,
            bot_user_ns=ns,
            foreign_booking_id=foreign,
            foreign_service_uid=other_uid,
            trigger_id=trigger.id,
            delivery_id=delivery.id,
        )

    yield api.run(make)
    while hooks_left := api.get("/v1/triggers", params={"limit": 200}).json()["data"]:
        for hook in hooks_left:
            assert api.delete(f"/v1/triggers/{hook['id']}").status_code == 204


START = st.integers(10, 400).map(lambda d: factories.future(days=d))


def _real_path_values(seed: Seed) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "service_uid": st.sampled_from([seed.service_uid, seed.foreign_service_uid]),
        "booking_id": st.sampled_from([*seed.booking_ids, seed.foreign_booking_id]),
        "bot_user_ns": st.just(seed.bot_user_ns),
        "sequence": st.integers(1, 3),
        "trigger_id": st.just(seed.trigger_id),
        "delivery_id": st.just(seed.delivery_id),
    }


def _action_params(seed: Seed) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Valid parameters of each seed action, naming the seeded objects."""
    uid = {"service_uid": seed.service_uid}
    booking = st.sampled_from(seed.booking_ids)

    def on_booking(**more: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({"booking_id": booking, **more})

    return {
        "list_booking_services": st.just({}),
        "get_booking_service": st.just(uid),
        "list_booking_service_reminders": st.just(uid),
        "list_booking_service_followups": st.just(uid),
        "list_bookings": st.fixed_dictionaries(
            {"bot_user_ns": st.just(seed.bot_user_ns)}, optional={"limit": st.integers(1, 3)}
        ),
        "get_booking": on_booking(),
        "create_booking": st.fixed_dictionaries(
            {
                "service_uid": st.just(seed.service_uid),
                "bot_user_ns": st.just(seed.bot_user_ns),
                "start_time": START,
            }
        ),
        "confirm_booking": on_booking(),
        "reschedule_booking": on_booking(start_time=START, reschedule_reason=st.just("fuzz")),
        "cancel_booking": on_booking(cancel_reason=st.just("fuzz")),
        "mark_booking_completed": on_booking(),
        "mark_booking_no_show": on_booking(),
        "update_booking_rating": on_booking(rating=st.integers(0, 5)),
    }


def _aim(case: schemathesis.Case, data: st.DataObject, seed: Seed) -> None:
    """Sometimes point the generated case at seeded objects, so that it gets past the 404s."""
    params = case.path_parameters or {}
    real = _real_path_values(seed)
    swappable = [name for name in params if name in real]
    if swappable and data.draw(st.booleans(), label="real path parameters"):
        for name in swappable:
            params[name] = data.draw(real[name], label=name)
    body = case.body
    if isinstance(body, dict) and data.draw(st.booleans(), label="real body references"):
        if "service_uid" in body or case.operation.label == "POST /v1/bookings":
            body["service_uid"] = seed.service_uid
            body.pop("service_id", None)
        if "start_time" in body:
            body["start_time"] = data.draw(START, label="start_time")
    actions = _action_params(seed)
    path = case.operation.path
    action = path.removeprefix("/v1/actions/") if path.startswith("/v1/actions/") else None
    if action in actions and data.draw(st.booleans(), label="real action parameters"):
        case.body = data.draw(actions[action], label="action parameters")


@pytest.mark.soak
@settings(
    max_examples=sizes.examples(20),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@schema.given(data=st.data())
@schema.parametrize()
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, data: st.DataObject, seed: Seed, fuzzed_app: FastAPI
) -> None:
    _aim(case, data, seed)
    case.call_and_validate(headers=seed.headers, checks=CHECKS, app=fuzzed_app)


# --- the document itself --------------------------------------------------------------------------

OPERATIONS = [
    (method.upper(), path, operation)
    for path, methods in schema.raw_schema["paths"].items()
    for method, operation in methods.items()
]
ERROR_REF = "#/components/schemas/ErrorResponse"
# Where a state or a limit can refuse: SPEC sections 2, 3 and 6.
REFUSABLE = {
    ("POST", "/v1/services"),  # 21st service, taken service_uid
    ("DELETE", "/v1/services/{service_uid}"),  # still has bookings
    ("POST", "/v1/services/{service_uid}/reminders"),  # 6th reminder
    ("POST", "/v1/services/{service_uid}/followups"),  # 6th follow-up
    ("POST", "/v1/bookings"),  # inactive service, Idempotency-Key with another body
}


def _refusable(method: str, path: str) -> bool:
    # Every change of a booking can meet a status that refuses it, or a stale If-Match.
    return (
        (method, path) in REFUSABLE
        or (method != "GET" and path.startswith("/v1/bookings/{booking_id}"))
        # the booking actions, through the seed's names
        or (method == "POST" and path.startswith("/v1/actions/"))
    )


# The seed's 13 actions, list_available_slots and analytics.
ACTIONS = [action.value for action in ActionName]


def test_each_action_has_its_typed_parameters() -> None:
    """One operation per action, its body a schema with the action's own parameters (so a client
    generator types them), not a free-form object."""
    assert len(ACTIONS) == 16
    paths = schema.raw_schema["paths"]
    components = schema.raw_schema["components"]["schemas"]
    assert sorted(p.removeprefix("/v1/actions/") for p in paths if "/actions/" in p) == sorted(
        ACTIONS
    )
    for action in ACTIONS:
        body = paths[f"/v1/actions/{action}"]["post"]["requestBody"]["content"]["application/json"]
        [ref] = [s["$ref"] for s in body["schema"]["anyOf"] if "$ref" in s]
        params = components[ref.rsplit("/", 1)[-1]]
        assert params["type"] == "object", (action, params)
        assert params.get("additionalProperties") is not True, action
    create = components["CreateParams"]["properties"]
    assert {"service_uid", "bot_user_ns", "start_time", "pending_or_confirmed"} <= set(create)


def test_the_document_covers_the_api() -> None:
    names = {f"{method} {path}" for method, path, _ in OPERATIONS}
    assert {
        "GET /v1/services",
        "PATCH /v1/services/{service_uid}",
        "DELETE /v1/services/{service_uid}/followups/{sequence}",
        "POST /v1/bookings/{booking_id}/no-show",
        "GET /v1/bookings/{booking_id}/logs",
        "PUT /v1/bot-users/{bot_user_ns}",
        "GET /v1/events",
        "POST /v1/actions/create_booking",
        "POST /v1/triggers",
        "PATCH /v1/triggers/{trigger_id}",
        "GET /v1/triggers/{trigger_id}/deliveries",
        "POST /v1/deliveries/{delivery_id}/retry",
    } <= names
    assert all(path.startswith("/v1/") for _, path, _ in OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [pytest.param(*op, id=f"{op[0]} {op[1]}") for op in OPERATIONS],
)
def test_each_operation_documents_its_error_answers(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    expected = {"401", "422"}
    if "{" in path and (method, path) != ("PUT", "/v1/bot-users/{bot_user_ns}"):
        # Names an object that may not exist (an action may name a missing booking or service);
        # PUT of a bot user creates it.
        expected.add("404")
    if _refusable(method, path):
        expected.add("409")
    assert expected <= set(responses), f"{method} {path}: {sorted(responses)}"
    for status in expected:
        content = responses[status]["content"]["application/json"]["schema"]
        assert content == {"$ref": ERROR_REF}, f"{method} {path} {status}"
    assert any(s.startswith("2") for s in responses), f"{method} {path}"


def test_the_error_shape_is_documented() -> None:
    components = schema.raw_schema["components"]["schemas"]
    body = components["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}
    assert components["ErrorResponse"]["required"] == ["error"]


# --- answers the fuzzer may not reach often: the key, and input a database cannot store ----------

PLACEHOLDERS = {
    "service_uid": "svc",
    "sequence": "1",
    "booking_id": "1",
    "bot_user_ns": "someone",
    "action": "list_booking_services",
}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-key", "Basic dXNlcjpwYXNz"]
)
def test_every_operation_refuses_a_missing_or_bad_key(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, _ in OPERATIONS:
        url = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "1"), path)
        response = api.client.request(method, url, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def _field_error(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error


def test_a_body_that_is_not_utf8_is_a_422(api: Api) -> None:
    response = api.post(
        "/v1/services",
        content=b'{"name": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    _field_error(response, "body")


def test_a_nul_character_is_refused_everywhere_not_stored(api: Api) -> None:
    # PostgreSQL text cannot hold U+0000: it used to answer 500 on that backend.
    _field_error(api.put("/v1/bot-users/someone", {"name": "a\x00b"}), "name")
    assert api.get("/v1/bot-users/someone").status_code == 404
    _field_error(api.get("/v1/bot-users/a%00b"), "bot_user_ns")
    _field_error(api.get("/v1/services/a%00b/reminders"), "service_uid")
    _field_error(api.get("/v1/bookings", params={"bot_user_ns": "a\x00b"}), "bot_user_ns")
    _field_error(
        api.post("/v1/services", {"name": "x\x00", "service_uid": "s1", "default_duration": 5}),
        "name",
    )
    svc = factories.service(api)
    body = {"service_uid": svc["service_uid"], "bot_user_ns": "u", "start_time": factories.future()}
    _field_error(api.post("/v1/bookings", {**body, "notes": "\x00"}), "notes")
    _field_error(api.post("/v1/actions/create_booking", {**body, "location": "\x00"}), "location")
    assert api.get("/v1/bookings").json()["data"] == []


@pytest.mark.parametrize(
    "start_time",
    [
        "9999-12-31T23:59:00Z",  # end or a follow-up would not fit in a datetime
        "9000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-23:00",  # not even representable in UTC
    ],
)
def test_a_start_beyond_the_representable_is_a_422(api: Api, start_time: str) -> None:
    svc = factories.service(api)
    uid = svc["service_uid"]
    body = {"service_uid": uid, "bot_user_ns": "u", "start_time": start_time, "duration": 1000}
    _field_error(api.post("/v1/bookings", body), "start_time")
    action = {"service_uid": uid, "bot_user_ns": "u", "start_time": start_time}
    _field_error(api.post("/v1/actions/create_booking", action), "start_time")
    booking = factories.booking(api, service_uid=uid)
    reschedule = {"start_time": start_time, "reason": "later"}
    _field_error(api.post(f"/v1/bookings/{booking['id']}/reschedule", reschedule), "start_time")
    assert api.get(f"/v1/bookings/{booking['id']}").json()["reschedule_count"] == 0


def test_the_latest_bookable_start_still_gets_its_followups(api: Api) -> None:
    uid = factories.service(api, default_duration=1000)["service_uid"]
    factories.template(api, uid, "followups", days=365)
    booking = factories.booking(api, service_uid=uid, start_time="8999-12-31T23:59:00Z")
    assert booking["end_time"] == "9000-01-01T16:39:00Z"
    assert api.post(f"/v1/bookings/{booking['id']}/complete").status_code == 200
    followups = api.get(f"/v1/bookings/{booking['id']}/followups").json()["data"]
    assert [f["scheduled_at"] for f in followups] == ["9001-01-01T16:39:00Z"]


@pytest.mark.parametrize("name", ["start_from", "start_to"])
def test_a_filter_time_beyond_utc_is_a_422(api: Api, name: str) -> None:
    _field_error(api.get("/v1/bookings", params={name: "0001-01-01T00:00:00+23:00"}), name)
    response = api.get("/v1/bookings", params={name: "9999-12-31T23:59:59Z"})
    assert response.status_code == 200, response.text


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/v1/services", "/v1/bookings", "/v1/triggers"])
@pytest.mark.parametrize("last_id", [2**31, 2**63, -1])
def test_a_forged_cursor_beyond_32_bit_ids_is_a_422(api: Api, path: str, last_id: int) -> None:
    # These tables have 32-bit ids on PostgreSQL: such a cursor used to fail in the database.
    _field_error(api.get(path, params={"cursor": _cursor(f"id:{last_id}")}), "cursor")


def test_a_forged_cursor_beyond_64_bit_ids_is_a_422(api: Api) -> None:
    booking = factories.booking(api, service_uid=factories.service(api)["service_uid"])
    logs = f"/v1/bookings/{booking['id']}/logs"
    for path in ("/v1/events", logs):
        response = api.get(path, params={"cursor": _cursor(f"id:{2**62}")})
        assert response.status_code == 200, response.text
        assert response.json() == {"data": [], "next_cursor": None}
        _field_error(api.get(path, params={"cursor": _cursor(f"id:{2**63}")}), "cursor")
    action = api.post("/v1/actions/list_bookings", {"cursor": _cursor(f"id:{2**31}")})
    _field_error(action, "cursor")


def test_metadata_nested_too_deep_to_parse_is_a_422(api: Api) -> None:
    booking = factories.booking(api, service_uid=factories.service(api)["service_uid"])
    # Python's json gives up with a RecursionError, which used to escape as a 500.
    response = api.patch(f"/v1/bookings/{booking['id']}", {"metadata": "[" * 5000})
    _field_error(response, "metadata")


@pytest.mark.parametrize("host", ["a..example", "x" * 64 + ".example"])
def test_a_webhook_host_the_resolver_cannot_encode_is_a_422(api: Api, host: str) -> None:
    body = {"name": "hook", "url": f"https://{host}/hook"}
    _field_error(api.post("/v1/triggers", body), "url")
