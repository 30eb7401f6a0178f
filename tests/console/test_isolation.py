"""One workspace's admin cannot see or change another workspace's objects through any console URL.

Workspace A owns a service with templates, a booking, a trigger with a delivery, an API key and an
admin user. B's admin, signed in with a valid session and CSRF token, tries every console route on
A's objects: each answers 404 (lists leave A's objects out), and A's objects stay as they were.
The routes come from the console's routers, so a route added without a check here fails.
"""

from __future__ import annotations

import secrets
from typing import Any

from bookd.console.auth import list_users
from tests import factories
from tests.conftest import Api
from tests.console.support import browser, new_admin, signed_in
from tests.console.test_auth import console_routes

BOOKING_ACTIONS = [
    "confirm",
    "reschedule",
    "cancel",
    "complete",
    "no-show",
    "rating",
    "details",
    "delete",
]
HOOK_URL = "https://1.1.1.1/bookd-console-isolation"


def test_every_console_url_keeps_to_its_workspace(api: Api, make_workspace: Any) -> None:
    a, b_api = api, make_workspace()
    uid = f"secret_{secrets.token_hex(4)}"
    factories.service(a, service_uid=uid, name="A's own service")
    factories.template(a, uid, "reminders", title="A reminder", days=1)
    factories.template(a, uid, "followups", title="A follow-up", hours=1)
    booking = factories.booking(a, service_uid=uid, bot_user_ns="a-contact")
    trigger = a.post(
        "/v1/triggers", {"name": "A's hook", "url": HOOK_URL, "status": "paused"}
    ).json()
    delivery = a.post(f"/v1/triggers/{trigger['id']}/test").json()
    try:
        _intrude(a, b_api, uid, booking, trigger, delivery)
    finally:
        # Other tests' workers deliver everything due in this database: leave nothing to send.
        for owner in (a, b_api):
            for hook in owner.get("/v1/triggers").json()["data"]:
                assert owner.delete(f"/v1/triggers/{hook['id']}").status_code == 204


def _intrude(
    a: Api,
    b_api: Api,
    uid: str,
    booking: dict[str, Any],
    trigger: dict[str, Any],
    delivery: dict[str, Any],
) -> None:
    a_email = new_admin(a)

    async def a_user_id(session: Any) -> int:
        return (await list_users(session, a.workspace_id))[0].id

    user_id = a.run(a_user_id)
    key_id = _key_id(a)
    before = _snapshot(a, uid, booking["id"], trigger["id"])

    b = signed_in(b_api)
    values = {
        "uid": uid,
        "sequence": "1",
        "booking_id": str(booking["id"]),
        "trigger_id": str(trigger["id"]),
        "delivery_id": str(delivery["id"]),
        "key_id": str(key_id),
        "user_id": str(user_id),
        "name": "statuses",  # a chart, asked for A's service
    }
    form = {
        "name": "Taken over",
        "description": "x",
        "default_duration": "5",
        "title": "Taken over",
        "reason": "taken over",
        "start_time": "2031-01-01T10:00",
        "rating": "1",
        "url": HOOK_URL,
        "email": f"intruder-{secrets.token_hex(3)}@example.com",
        "password": "a long enough password",
        "service_uid": uid,
        "bot_user_ns": "intruder",
        "timezone": "UTC",
    }
    checked: set[tuple[str, str]] = set()
    for method in ("GET", "POST"):
        for path in console_routes(method):
            checked.add((method, path))
            if "{" not in path:
                continue
            for action in BOOKING_ACTIONS if "{action}" in path else [""]:
                for plural in ("reminders", "followups") if "{plural}" in path else ["reminders"]:
                    url = path.format(**values, action=action, plural=plural)
                    if path.startswith("/analytics"):
                        url += f"?service_uid={uid}"
                    response = b.get(url) if method == "GET" else b.post(url, form)
                    assert response.status_code == 404, (method, url, response.status_code)
                    assert "A&#39;s" not in response.text and "A's" not in response.text

    # The routes without an object in their address act on B's own workspace only.
    for path in (
        "/", "/services", "/bookings", "/triggers", "/settings", "/bookings?view=week", "/analytics",
    ):  # fmt: skip
        page = b.get(path)
        assert page.status_code == 200, path
        for secret in (uid, "A's own service", "a-contact", "A's hook", a_email):
            assert secret not in page.text.replace("&#39;", "'"), (path, secret)
    refused = b.post("/bookings", form)  # A's service_uid, from B
    assert refused.status_code == 404
    analytics = b.get(f"/analytics?service_uid={uid}")  # named, not shown: unknown to B
    assert analytics.status_code == 422 and "A&#39;s" not in analytics.text
    b.post("/services", {**form, "service_uid": uid})  # the same uid, in B: B's own service
    assert b.post("/triggers", form).status_code == 201
    assert b.post("/settings", form).status_code == 303
    assert b.post("/settings/api-keys", {"name": "B's"}).status_code == 201
    assert b.post("/settings/users", form).status_code == 303

    assert _snapshot(a, uid, booking["id"], trigger["id"]) == before
    assert browser(a.client).sign_in(a_email).status_code == 303
    unchecked = {(m, p) for m in ("GET", "POST") for p in console_routes(m)} - checked
    assert not unchecked


def _key_id(api: Api) -> int:
    prefix = api.key.split("_")[1]

    async def work(session: Any) -> int:
        from bookd.workspaces.service import list_api_keys

        keys = await list_api_keys(session, api.workspace_id)
        return next(k.id for k in keys if k.prefix == prefix)

    return api.run(work)


def _snapshot(api: Api, uid: str, booking_id: int, trigger_id: int) -> dict[str, Any]:
    deliveries = api.get(f"/v1/triggers/{trigger_id}/deliveries").json()["data"]
    return {
        "service": api.get(f"/v1/services/{uid}").json(),
        "reminders": api.get(f"/v1/services/{uid}/reminders").json(),
        "followups": api.get(f"/v1/services/{uid}/followups").json(),
        "booking": api.get(f"/v1/bookings/{booking_id}").json(),
        "trigger": api.get(f"/v1/triggers/{trigger_id}").json(),
        "deliveries": [(d["id"], d["status"]) for d in deliveries],
        "services": api.get("/v1/services").json(),
        "workspace_key_works": api.get("/v1/services").status_code,
    }
