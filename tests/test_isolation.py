"""Nothing crosses workspaces (SPEC §1, §6): another workspace's object is a 404.

A second workspace's key tries every operation of the API on the first workspace's objects: each
must answer 404 `not_found` (or, for a list, leave the other's objects out), and afterwards the
first workspace's objects are exactly as they were. The operations come from the OpenAPI document,
so an endpoint added without an isolation check here fails `test_every_operation_has_an_isolation_check`.

Also: every `/v1` operation refuses a missing, malformed, unknown or revoked key with 401.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.actions.endpoints import ActionName
from bookd.workspaces import service as workspaces
from tests import factories
from tests.checks import Checks, answers, assert_refused
from tests.conftest import Api, TestClock

IDEMPOTENCY_KEY = "same-key-in-both-workspaces"
# A public address given as a literal: accepted without DNS; nothing is ever sent to it here (the
# triggers are paused, no worker runs, and they are deleted at the end).
HOOK_URL = "https://1.1.1.1/bookd-isolation-test"


@dataclass
class World:
    """Workspace A (the owner) with a few objects, and workspace B (the intruder) with its own."""

    a: Api
    b: Api
    clock: TestClock
    make_workspace: Callable[..., Api]
    uid: str
    service_id: int
    booking_id: int  # pending, with a reminder
    done_id: int  # completed, with a follow-up
    ns: str  # A's bot user of both bookings
    ns_profile: str  # another of A's bot users, with a profile; B PUTs the same ns
    create_body: dict[str, Any]  # A's body of its first booking, sent with IDEMPOTENCY_KEY
    trigger_id: int  # paused, with one (test) delivery
    delivery_id: int
    b_uid: str
    b_booking_id: int
    b_ns: str
    b_trigger_id: int
    host_uid: str  # A's host; B has one of the same uid
    customer_token: str  # A's, for `ns`
    customer_token_id: int
    a_event_ids: set[str] = field(default_factory=set)
    # Triggers to delete at the end, so that no later test's delivery worker sends to them.
    triggers: list[tuple[Api, int]] = field(default_factory=list)

    @property
    def a_booking_ids(self) -> set[int]:
        return {self.booking_id, self.done_id}


def build_world(api: Api, make_workspace: Callable[..., Api], clock: TestClock) -> World:
    a, b = api, make_workspace(timezone="Europe/Berlin")
    tag = secrets.token_hex(3)

    uid = f"a_{tag}"
    svc = factories.service(a, service_uid=uid, name="A's service")
    factories.template(a, uid, "reminders", title="A reminder", days=1)
    factories.template(a, uid, "followups", title="A follow-up", hours=1)
    ns = f"alice-{tag}"
    create_body = {
        "service_uid": uid,
        "bot_user_ns": ns,
        "start_time": factories.future(days=30),
        "notes": "A's private notes",
    }
    first = a.post("/v1/bookings", create_body, headers={"Idempotency-Key": IDEMPOTENCY_KEY})
    assert first.status_code == 201, first.text
    done = factories.booking(a, service_uid=uid, bot_user_ns=ns, start_time=factories.future())
    completed = a.post(f"/v1/bookings/{done['id']}/complete")
    assert completed.status_code == 200, completed.text
    ns_profile = f"alice-profile-{tag}"
    put = a.put(f"/v1/bot-users/{ns_profile}", {"name": "Alice", "email": "alice@example.org"})
    assert put.status_code == 200, put.text

    b_uid = f"b_{tag}"
    factories.service(b, service_uid=b_uid, name="B's service")
    factories.template(b, b_uid, "reminders", title="B reminder", days=1)
    b_ns = f"bob-{tag}"
    b_booking = factories.booking(
        b, service_uid=b_uid, bot_user_ns=b_ns, start_time=factories.future(days=90)
    )
    a_events = factories.events(a)
    assert [e["type"] for e in a_events] == [
        "BOOKING_CREATED",
        "BOOKING_CREATED",
        "BOOKING_COMPLETED",
    ]
    triggers: list[tuple[Api, int]] = []
    trigger_id = paused_trigger(a, "A's hook", triggers)
    sent = a.post(f"/v1/triggers/{trigger_id}/test")
    assert sent.status_code == 202, sent.text
    b_trigger_id = paused_trigger(b, "B's hook", triggers)
    host_uid = f"h_{tag}"
    for owner, name in ((a, "A's host"), (b, "B's host")):
        made = owner.post("/v1/hosts", {"host_uid": host_uid, "name": name})
        assert made.status_code == 201, made.text
    served = a.put(f"/v1/services/{uid}/hosts", {"hosts": [{"host_uid": host_uid}]})
    assert served.status_code == 200, served.text
    issued = a.post("/v1/customer-tokens", {"bot_user_ns": ns})
    assert issued.status_code == 201, issued.text

    world = World(
        a=a,
        b=b,
        clock=clock,
        make_workspace=make_workspace,
        uid=uid,
        service_id=svc["id"],
        booking_id=first.json()["id"],
        done_id=done["id"],
        ns=ns,
        ns_profile=ns_profile,
        create_body=create_body,
        trigger_id=trigger_id,
        delivery_id=sent.json()["id"],
        b_uid=b_uid,
        b_booking_id=b_booking["id"],
        b_ns=b_ns,
        b_trigger_id=b_trigger_id,
        host_uid=host_uid,
        customer_token=issued.json()["token"],
        customer_token_id=issued.json()["id"],
        triggers=triggers,
    )
    world.a_event_ids = {e["id"] for e in factories.events(a)}
    return world


def paused_trigger(api: Api, name: str, cleanup: list[tuple[Api, int]]) -> int:
    body = {"name": name, "url": HOOK_URL, "event_types": ["*"], "status": "paused"}
    created = api.post("/v1/triggers", body)
    assert created.status_code == 201, created.text
    trigger_id: int = created.json()["id"]
    cleanup.append((api, trigger_id))
    return trigger_id


def delete_triggers(world: World) -> None:
    for owner, trigger_id in world.triggers:
        owner.delete(f"/v1/triggers/{trigger_id}")


def snapshot(world: World) -> dict[str, Any]:
    """Everything workspace A can see of its own objects."""
    a = world.a
    paths = [
        "/v1/services",
        f"/v1/services/{world.uid}",
        f"/v1/services/{world.uid}/reminders",
        f"/v1/services/{world.uid}/reminders/1",
        f"/v1/services/{world.uid}/followups",
        f"/v1/services/{world.uid}/followups/1",
        "/v1/bookings",
        f"/v1/bot-users/{world.ns}",
        f"/v1/bot-users/{world.ns_profile}",
        "/v1/events?limit=200",
        "/v1/triggers",
        f"/v1/triggers/{world.trigger_id}",
        f"/v1/triggers/{world.trigger_id}/deliveries",
        f"/v1/deliveries/{world.delivery_id}",
        "/v1/customer-tokens",
        "/v1/hosts",
        f"/v1/hosts/{world.host_uid}",
        f"/v1/services/{world.uid}/hosts",
    ]
    for booking_id in sorted(world.a_booking_ids):
        paths += [
            f"/v1/bookings/{booking_id}",
            f"/v1/bookings/{booking_id}/reminders",
            f"/v1/bookings/{booking_id}/followups",
            f"/v1/bookings/{booking_id}/logs",
        ]
    return answers(a, paths)


def assert_not_found(response: Any) -> None:
    assert_refused(response, 404, "not_found")


def data_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# --- one check per operation -----------------------------------------------------------------------

Check = Callable[[World], None]
CHECKS: Checks[World] = Checks()
covers = CHECKS.covers


# services


@covers("GET", "/v1/services")
def _list_services(w: World) -> None:
    uids = [s["service_uid"] for s in data_of(w.b.get("/v1/services"))]
    assert w.b_uid in uids
    assert w.uid not in uids


@covers("POST", "/v1/services")
def _create_service(w: World) -> None:
    created = w.b.post(
        "/v1/services",
        {"name": "B's second", "service_uid": f"{w.b_uid}_2", "default_duration": 15},
    )
    assert created.status_code == 201, created.text
    # A does not see it.
    assert f"{w.b_uid}_2" not in [s["service_uid"] for s in data_of(w.a.get("/v1/services"))]
    assert_not_found(w.a.get(f"/v1/services/{w.b_uid}_2"))


@covers("GET", "/v1/services/{service_uid}")
def _get_service(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/services/{w.uid}"))


@covers("PATCH", "/v1/services/{service_uid}")
def _patch_service(w: World) -> None:
    assert_not_found(w.b.patch(f"/v1/services/{w.uid}", {"name": "hijacked", "status": "inactive"}))


@covers("DELETE", "/v1/services/{service_uid}")
def _delete_service(w: World) -> None:
    assert_not_found(w.b.delete(f"/v1/services/{w.uid}"))


@covers("GET", "/v1/services/{service_uid}/preview")
def _preview(w: World) -> None:
    assert_not_found(
        w.b.get(f"/v1/services/{w.uid}/preview", params={"start_time": factories.future()})
    )


@covers("GET", "/v1/services/{service_uid}/availability")
def _get_availability(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/services/{w.uid}/availability"))


@covers("PUT", "/v1/services/{service_uid}/availability")
def _put_availability(w: World) -> None:
    assert_not_found(w.b.put(f"/v1/services/{w.uid}/availability", {"capacity": 1}))
    assert_not_found(w.a.get(f"/v1/services/{w.uid}/availability"))  # A's has none still


@covers("DELETE", "/v1/services/{service_uid}/availability")
def _delete_availability(w: World) -> None:
    assert_not_found(w.b.delete(f"/v1/services/{w.uid}/availability"))


@covers("GET", "/v1/services/{service_uid}/slots")
def _slots(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/services/{w.uid}/slots"))


@covers("GET", "/v1/services/{service_uid}/hosts")
def _get_service_hosts(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/services/{w.uid}/hosts"))


@covers("PUT", "/v1/services/{service_uid}/hosts")
def _put_service_hosts(w: World) -> None:
    body = {"assignment": "collective", "hosts": [{"host_uid": w.host_uid}]}
    assert_not_found(w.b.put(f"/v1/services/{w.uid}/hosts", body))


@covers("DELETE", "/v1/services/{service_uid}/hosts")
def _delete_service_hosts(w: World) -> None:
    assert_not_found(w.b.delete(f"/v1/services/{w.uid}/hosts"))


# hosts: B has a host of the same uid as A's; B reaches only its own


@covers("GET", "/v1/hosts")
def _list_hosts(w: World) -> None:
    assert [h["name"] for h in data_of(w.b.get("/v1/hosts"))] == ["B's host"]


@covers("POST", "/v1/hosts")
def _create_host(w: World) -> None:
    created = w.b.post("/v1/hosts", {"host_uid": f"{w.host_uid}_2", "name": "B's second"})
    assert created.status_code == 201, created.text
    assert_not_found(w.a.get(f"/v1/hosts/{w.host_uid}_2"))


@covers("GET", "/v1/hosts/{host_uid}")
def _get_host(w: World) -> None:
    assert w.b.get(f"/v1/hosts/{w.host_uid}").json()["name"] == "B's host"


@covers("PATCH", "/v1/hosts/{host_uid}")
def _patch_host(w: World) -> None:
    patched = w.b.patch(f"/v1/hosts/{w.host_uid}", {"name": "B's host", "active": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False


@covers("DELETE", "/v1/hosts/{host_uid}")
def _delete_host(w: World) -> None:
    assert w.b.delete(f"/v1/hosts/{w.host_uid}_2").status_code == 204
    assert_not_found(w.b.get(f"/v1/hosts/{w.host_uid}_2"))


def _template_checks(plural: str) -> None:
    base = "/v1/services/{service_uid}/" + plural

    @covers("GET", base)
    def _list(w: World) -> None:
        assert_not_found(w.b.get(f"/v1/services/{w.uid}/{plural}"))

    @covers("POST", base)
    def _create(w: World) -> None:
        assert_not_found(w.b.post(f"/v1/services/{w.uid}/{plural}", {"title": "x", "days": 2}))

    @covers("GET", base + "/{sequence}")
    def _get(w: World) -> None:
        assert_not_found(w.b.get(f"/v1/services/{w.uid}/{plural}/1"))

    @covers("PATCH", base + "/{sequence}")
    def _patch(w: World) -> None:
        assert_not_found(
            w.b.patch(f"/v1/services/{w.uid}/{plural}/1", {"title": "hijacked", "days": 3})
        )

    @covers("DELETE", base + "/{sequence}")
    def _delete(w: World) -> None:
        assert_not_found(w.b.delete(f"/v1/services/{w.uid}/{plural}/1"))


_template_checks("reminders")
_template_checks("followups")


# calendars


@covers("GET", "/v1/bookings/{booking_id}.ics")
def _booking_ics(w: World) -> None:
    for booking_id in w.a_booking_ids:
        assert_not_found(w.b.get(f"/v1/bookings/{booking_id}.ics"))


def _a_feed(w: World) -> str:
    issued = w.a.post("/v1/calendar-feed")
    assert issued.status_code == 201, issued.text
    url: str = issued.json()["url"]
    return url


def _feed_text(api: Api, url: str) -> str:
    feed = api.client.get(url)
    assert feed.status_code == 200, feed.text
    text: str = feed.text
    return text


@covers("POST", "/v1/calendar-feed")
def _issue_feed(w: World) -> None:
    a_url = _a_feed(w)
    b_url = w.b.post("/v1/calendar-feed").json()["url"]
    assert w.a.client.get(a_url).status_code == 200  # B's new token did not replace A's
    b_feed = _feed_text(w.b, b_url)
    assert f"booking-{w.b_booking_id}-" in b_feed
    assert not any(f"booking-{i}-" in b_feed for i in w.a_booking_ids)


@covers("GET", "/v1/calendar-feed")
def _feed_status(w: World) -> None:
    _a_feed(w)
    w.b.delete("/v1/calendar-feed")
    assert w.b.get("/v1/calendar-feed").json()["active"] is False


@covers("DELETE", "/v1/calendar-feed")
def _revoke_feed(w: World) -> None:
    a_url = _a_feed(w)
    assert w.b.delete("/v1/calendar-feed").status_code == 204
    assert w.a.client.get(a_url).status_code == 200


@covers("GET", "/v1/feeds/{token}.ics")
def _feed(w: World) -> None:
    a_feed = _feed_text(w.a, _a_feed(w))
    assert all(f"booking-{i}-" in a_feed for i in w.a_booking_ids)
    b_feed = _feed_text(w.b, w.b.post("/v1/calendar-feed").json()["url"])
    assert not any(f"booking-{i}-" in b_feed for i in w.a_booking_ids)


# bookings


@covers("GET", "/v1/bookings")
def _list_bookings(w: World) -> None:
    ids = {x["id"] for x in data_of(w.b.get("/v1/bookings"))}
    assert w.b_booking_id in ids
    assert not ids & w.a_booking_ids
    for params in (
        {"service_uid": w.uid},
        {"bot_user_ns": w.ns},
        {"status": "completed"},
        {"start_from": factories.future(days=1), "start_to": factories.future(days=60)},
    ):
        assert data_of(w.b.get("/v1/bookings", params=params)) == [], params


@covers("POST", "/v1/bookings")
def _create_booking(w: World) -> None:
    start = factories.future(days=10)
    assert_not_found(
        w.b.post("/v1/bookings", {"service_uid": w.uid, "bot_user_ns": w.b_ns, "start_time": start})
    )
    assert_not_found(
        w.b.post(
            "/v1/bookings",
            {"service_id": w.service_id, "bot_user_ns": w.b_ns, "start_time": start},
        )
    )
    # Idempotency keys are per workspace: A's key and exact body do not replay A's answer to B ...
    key = {"Idempotency-Key": IDEMPOTENCY_KEY}
    assert_not_found(w.b.post("/v1/bookings", w.create_body, headers=key))
    # ... and B's own body with the same key is a new booking of B's, not a conflict.
    mine = {"service_uid": w.b_uid, "bot_user_ns": w.b_ns, "start_time": start}
    created = w.b.post("/v1/bookings", mine, headers=key)
    assert created.status_code == 201, created.text
    assert created.json()["id"] not in w.a_booking_ids
    assert created.json()["service_uid"] == w.b_uid
    # Gone again, so that B has nothing due in the scheduler-status check.
    assert w.b.delete(f"/v1/bookings/{created.json()['id']}").status_code == 204


@covers("GET", "/v1/bookings/{booking_id}")
def _get_booking(w: World) -> None:
    for booking_id in w.a_booking_ids:
        assert_not_found(w.b.get(f"/v1/bookings/{booking_id}"))


@covers("PATCH", "/v1/bookings/{booking_id}")
def _patch_booking(w: World) -> None:
    for booking_id in w.a_booking_ids:
        assert_not_found(w.b.patch(f"/v1/bookings/{booking_id}", {"notes": "hijacked"}))
        assert_not_found(
            w.b.patch(f"/v1/bookings/{booking_id}", {"notes": "x"}, headers={"If-Match": "1"})
        )


@covers("DELETE", "/v1/bookings/{booking_id}")
def _delete_booking(w: World) -> None:
    for booking_id in w.a_booking_ids:
        assert_not_found(w.b.delete(f"/v1/bookings/{booking_id}"))


BOOKING_ACTIONS: dict[str, dict[str, Any] | None] = {
    "confirm": None,
    "reschedule": {"start_time": "2031-01-02T10:00:00Z", "reason": "hijacked"},
    "cancel": {"reason": "hijacked"},
    "complete": None,
    "no-show": None,
    "rating": {"rating": 1},
}


def _action_check(action: str, body: dict[str, Any] | None) -> None:
    @covers("POST", "/v1/bookings/{booking_id}/" + action)
    def _act(w: World) -> None:
        for booking_id in w.a_booking_ids:
            assert_not_found(w.b.post(f"/v1/bookings/{booking_id}/{action}", body))


for _action, _body in BOOKING_ACTIONS.items():
    _action_check(_action, _body)


def _listing_check(what: str) -> None:
    @covers("GET", "/v1/bookings/{booking_id}/" + what)
    def _list(w: World) -> None:
        for booking_id in w.a_booking_ids:
            assert_not_found(w.b.get(f"/v1/bookings/{booking_id}/{what}"))


for _what in ("reminders", "followups", "logs"):
    _listing_check(_what)


# events


@covers("GET", "/v1/events")
def _list_events(w: World) -> None:
    mine = data_of(w.b.get("/v1/events", params={"limit": 200}))
    assert mine, "B's own events are listed"
    assert {e["workspace_id"] for e in mine} == {w.b.workspace_id}
    assert not {e["id"] for e in mine} & w.a_event_ids
    for booking_id in w.a_booking_ids:
        assert data_of(w.b.get("/v1/events", params={"booking_id": booking_id})) == []
    assert data_of(w.b.get("/v1/events", params={"type": "BOOKING_COMPLETED"})) == []


# the scheduler's status: B's backlog does not count A's due items


@covers("GET", "/v1/scheduler/status")
def _scheduler_status(w: World) -> None:
    saved = w.clock.fixed
    # 60 days on, A's pending booking has started and its follow-up is due; B's booking (90 days
    # on) has nothing due. No scheduler runs here, so all of it stays in the backlog.
    w.clock.set(datetime.now(UTC) + timedelta(days=60))
    try:
        empty = w.make_workspace()
        as_b = w.b.get("/v1/scheduler/status")
        as_a = w.a.get("/v1/scheduler/status")
        as_empty = empty.get("/v1/scheduler/status")
        assert as_b.status_code == as_a.status_code == as_empty.status_code == 200
        assert as_a.json() != as_empty.json(), "A has due items: the check could fail"
        assert as_b.json() == as_empty.json()
    finally:
        w.clock.fixed = saved


# analytics: B's figures count none of A's bookings


def _analytics_range() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": today.isoformat(), "to": (today + timedelta(days=120)).isoformat()}


@covers("GET", "/v1/analytics")
def _analytics(w: World) -> None:
    asked = {**_analytics_range(), "granularity": "month"}
    empty = w.make_workspace(timezone="Europe/Berlin")
    as_a, as_b, as_empty = (x.get("/v1/analytics", params=asked) for x in (w.a, w.b, empty))
    assert as_a.status_code == as_b.status_code == as_empty.status_code == 200
    assert as_a.json()["total"]["bookings"] > 0, "A has bookings: the check could fail"
    assert as_b.json()["total"]["bookings"] == _bs_bookings(w)  # B's own bookings only
    assert_not_found(w.b.get("/v1/analytics", params={**asked, "service_uid": w.uid}))


# triggers and deliveries


@covers("GET", "/v1/triggers")
def _list_triggers(w: World) -> None:
    ids = {t["id"] for t in data_of(w.b.get("/v1/triggers"))}
    assert w.b_trigger_id in ids
    assert w.trigger_id not in ids


@covers("POST", "/v1/triggers")
def _create_trigger(w: World) -> None:
    new = paused_trigger(w.b, "B's second hook", w.triggers)
    assert new not in {t["id"] for t in data_of(w.a.get("/v1/triggers"))}
    assert_not_found(w.a.get(f"/v1/triggers/{new}"))


@covers("GET", "/v1/triggers/{trigger_id}")
def _get_trigger(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/triggers/{w.trigger_id}"))


@covers("PATCH", "/v1/triggers/{trigger_id}")
def _patch_trigger(w: World) -> None:
    assert_not_found(
        w.b.patch(f"/v1/triggers/{w.trigger_id}", {"name": "hijacked", "status": "active"})
    )


@covers("DELETE", "/v1/triggers/{trigger_id}")
def _delete_trigger(w: World) -> None:
    assert_not_found(w.b.delete(f"/v1/triggers/{w.trigger_id}"))


@covers("POST", "/v1/triggers/{trigger_id}/rotate-secret")
def _rotate_secret(w: World) -> None:
    assert_not_found(w.b.post(f"/v1/triggers/{w.trigger_id}/rotate-secret"))


@covers("POST", "/v1/triggers/{trigger_id}/recover")
def _recover_trigger(w: World) -> None:
    assert_not_found(
        w.b.post(f"/v1/triggers/{w.trigger_id}/recover", {"since": "2020-01-01T00:00:00Z"})
    )


@covers("POST", "/v1/triggers/{trigger_id}/test")
def _test_trigger(w: World) -> None:
    assert_not_found(w.b.post(f"/v1/triggers/{w.trigger_id}/test"))


@covers("GET", "/v1/triggers/{trigger_id}/deliveries")
def _list_deliveries(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/triggers/{w.trigger_id}/deliveries"))
    assert data_of(w.b.get(f"/v1/triggers/{w.b_trigger_id}/deliveries")) == []


@covers("GET", "/v1/deliveries/{delivery_id}")
def _get_delivery(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/deliveries/{w.delivery_id}"))


@covers("POST", "/v1/deliveries/{delivery_id}/retry")
def _retry_delivery(w: World) -> None:
    assert_not_found(w.b.post(f"/v1/deliveries/{w.delivery_id}/retry"))


# the seed's action API


def _seed_actions(w: World) -> dict[str, Callable[[], None]]:
    def act(name: str, **params: Any) -> Any:
        return w.b.post(f"/v1/actions/{name}", params)

    def listed_services() -> None:
        uids = [s["service_uid"] for s in act("list_booking_services").json()["data"]]
        assert w.b_uid in uids
        assert w.uid not in uids

    def listed_bookings() -> None:
        ids = {x["id"] for x in act("list_bookings").json()["data"]}
        assert w.b_booking_id in ids
        assert not ids & w.a_booking_ids
        assert act("list_bookings", service_uid=w.uid).json()["data"] == []
        assert act("list_bookings", bot_user_ns=w.ns).json()["data"] == []
        assert act("list_bookings", status="completed").json()["data"] == []

    def on_a_bookings(name: str, **params: Any) -> Callable[[], None]:
        def check() -> None:
            for booking_id in w.a_booking_ids:
                assert_not_found(act(name, booking_id=booking_id, **params))
                assert_not_found(act(name, booking_id=booking_id, bot_user_ns=w.ns, **params))

        return check

    return {
        "list_booking_services": listed_services,
        "list_hosts": lambda: assert_hosts_of_b(act("list_hosts").json()["data"]),
        "get_booking_service": lambda: assert_not_found(
            act("get_booking_service", service_uid=w.uid)
        ),
        "list_booking_service_reminders": lambda: assert_not_found(
            act("list_booking_service_reminders", service_uid=w.uid)
        ),
        "list_booking_service_followups": lambda: assert_not_found(
            act("list_booking_service_followups", service_uid=w.uid)
        ),
        "list_bookings": listed_bookings,
        "get_booking": on_a_bookings("get_booking"),
        "create_booking": lambda: assert_not_found(
            act(
                "create_booking",
                service_uid=w.uid,
                bot_user_ns=w.b_ns,
                start_time=factories.future(days=10),
            )
        ),
        "confirm_booking": on_a_bookings("confirm_booking"),
        "reschedule_booking": on_a_bookings(
            "reschedule_booking",
            start_time="2031-01-02T10:00:00Z",
            reschedule_reason="hijacked",
        ),
        "cancel_booking": on_a_bookings("cancel_booking", cancel_reason="hijacked"),
        "mark_booking_completed": on_a_bookings("mark_booking_completed"),
        "mark_booking_no_show": on_a_bookings("mark_booking_no_show"),
        "update_booking_rating": on_a_bookings("update_booking_rating", rating=1),
        "list_available_slots": lambda: assert_not_found(
            act("list_available_slots", service_uid=w.uid)
        ),
        "analytics": lambda: (
            assert_not_found(act("analytics", service_uid=w.uid, **_analytics_range())),
            _only_bs_bookings(w, act("analytics", **_analytics_range())),
        ),
    }


def _bs_bookings(w: World) -> int:
    """How many of B's bookings start in `_analytics_range()` (UTC days; B's are far from its
    ends)."""
    asked = _analytics_range()
    listed = w.b.get(
        "/v1/bookings",
        params={"start_from": f"{asked['from']}T00:00:00Z", "start_to": f"{asked['to']}T00:00:00Z", "limit": 200},
    )  # fmt: skip
    return len(data_of(listed))


def _only_bs_bookings(w: World, answer: Any) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["total"]["bookings"] == _bs_bookings(w)


def action_names(openapi: dict[str, Any]) -> set[str]:
    return {
        p.removeprefix("/v1/actions/") for p in openapi["paths"] if p.startswith("/v1/actions/")
    }


def assert_hosts_of_b(listed: list[dict[str, Any]]) -> None:
    assert [h["name"] for h in listed] == ["B's host"], listed


def _action(name: str) -> Check:
    def check(w: World) -> None:
        checks = _seed_actions(w)
        assert set(checks) == action_names(w.b.client.app.openapi()), "every seed action is checked"  # type: ignore[attr-defined]
        checks[name]()

    return check


for _name in ActionName:
    covers("POST", f"/v1/actions/{_name.value}")(_action(_name.value))


# bot users (the PUT creates B's own bot user, so it goes to A's other one, `ns_profile`)


@covers("GET", "/v1/bot-users/{bot_user_ns}")
def _get_bot_user(w: World) -> None:
    assert_not_found(w.b.get(f"/v1/bot-users/{w.ns}"))


@covers("PUT", "/v1/bot-users/{bot_user_ns}")
def _put_bot_user(w: World) -> None:
    """A `bot_user_ns` names a contact within a workspace: B's PUT makes B's own, A's is untouched
    (checked by the snapshot)."""
    assert_not_found(w.b.get(f"/v1/bot-users/{w.ns_profile}"))
    put = w.b.put(f"/v1/bot-users/{w.ns_profile}", {"name": "Mallory"})
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "Mallory"
    assert w.a.get(f"/v1/bot-users/{w.ns_profile}").json()["name"] == "Alice"


# customer tokens


def _a_customer_still_sees_its_booking(w: World) -> None:
    seen = w.a.client.get(
        f"/v1/bookings/{w.booking_id}", headers={"Authorization": f"Bearer {w.customer_token}"}
    )
    assert seen.status_code == 200, seen.text


@covers("GET", "/v1/customer-tokens")
def _list_customer_tokens(w: World) -> None:
    assert w.customer_token_id not in {t["id"] for t in data_of(w.b.get("/v1/customer-tokens"))}
    assert data_of(w.b.get("/v1/customer-tokens", params={"bot_user_ns": w.ns})) == []


@covers("POST", "/v1/customer-tokens")
def _issue_customer_token(w: World) -> None:
    issued = w.b.post("/v1/customer-tokens", {"bot_user_ns": w.b_ns})
    assert issued.status_code == 201, issued.text
    as_b_customer = {"Authorization": f"Bearer {issued.json()['token']}"}
    for booking_id in w.a_booking_ids:
        assert_not_found(w.b.client.get(f"/v1/bookings/{booking_id}", headers=as_b_customer))
    assert issued.json()["id"] not in {t["id"] for t in data_of(w.a.get("/v1/customer-tokens"))}


@covers("DELETE", "/v1/customer-tokens/{token_id}")
def _revoke_customer_token(w: World) -> None:
    assert_not_found(w.b.delete(f"/v1/customer-tokens/{w.customer_token_id}"))
    _a_customer_still_sees_its_booking(w)


@covers("POST", "/v1/customer-tokens/revoke")
def _revoke_customer_tokens(w: World) -> None:
    assert_not_found(w.b.post("/v1/customer-tokens/revoke", {"bot_user_ns": w.ns}))
    _a_customer_still_sees_its_booking(w)


# --- the tests ----------------------------------------------------------------------------------------


def operations(client: TestClient) -> set[tuple[str, str]]:
    """Every operation of the API (`/v1`, where the key decides the workspace)."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete") and path.startswith("/v1/")
    }


def test_every_operation_has_an_isolation_check(client: TestClient) -> None:
    found = operations(client)
    assert ("GET", "/v1/bookings/{booking_id}") in found
    missing = sorted(found - set(CHECKS))
    assert missing == [], f"operations without an isolation check in {__file__}: {missing}"


def test_another_workspace_cannot_reach_the_first_ones_objects(
    api: Api, make_workspace: Callable[..., Api], clock: TestClock
) -> None:
    world = build_world(api, make_workspace, clock)
    try:
        before = snapshot(world)
        present = operations(api.client)
        assert CHECKS.run(world, present) == []
        assert present <= set(CHECKS)
        after = snapshot(world)
    finally:
        delete_triggers(world)
    changed = sorted(path for path in before if before[path] != after[path])
    assert changed == [], f"workspace A's objects changed: {changed}"
    assert after == before


def test_the_same_service_uid_in_two_workspaces_is_two_services(
    api: Api, make_workspace: Callable[..., Api]
) -> None:
    other = make_workspace()
    uid = f"shared_{secrets.token_hex(3)}"
    mine = factories.service(api, service_uid=uid, name="Mine", default_duration=30)
    theirs = factories.service(other, service_uid=uid, name="Theirs", default_duration=45)
    assert mine["id"] != theirs["id"]
    factories.template(api, uid, "reminders", title="mine", days=1)
    assert data_of(other.get(f"/v1/services/{uid}/reminders")) == []

    booking = factories.booking(other, service_uid=uid)
    assert booking["service_id"] == theirs["id"]
    assert booking["duration"] == 45
    assert data_of(other.get(f"/v1/bookings/{booking['id']}/reminders")) == []

    # A has no bookings of its service, so it may delete it; B's, with a booking, stays.
    assert api.delete(f"/v1/services/{uid}").status_code == 204
    assert other.get(f"/v1/services/{uid}").json()["name"] == "Theirs"
    assert other.get(f"/v1/bookings/{booking['id']}").status_code == 200


def test_the_service_limit_counts_per_workspace(
    api: Api, make_workspace: Callable[..., Api]
) -> None:
    for n in range(20):
        factories.service(api, service_uid=f"full_{n}")
    refused = api.post(
        "/v1/services", {"name": "21st", "service_uid": "full_20", "default_duration": 30}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "limit_exceeded"
    other = make_workspace()
    factories.service(other, service_uid="full_0")
    assert len(data_of(other.get("/v1/services"))) == 1


# --- authentication ---------------------------------------------------------------------------------


def fill(openapi: dict[str, Any], method: str, path: str) -> str:
    """`path` with its parameters filled with plausible values of their declared types."""
    operation = openapi["paths"][path][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        schema = parameter["schema"]
        if "$ref" in schema:
            schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        if "enum" in schema:
            value = str(schema["enum"][0])
        elif schema.get("type") == "integer":
            value = "1"
        else:
            value = "x"
        path = path.replace("{" + parameter["name"] + "}", value)
    return path


def assert_every_operation_refuses(client: TestClient, headers: dict[str, str]) -> None:
    openapi = client.app.openapi()  # type: ignore[attr-defined]
    wrong = []
    for method, path in sorted(operations(client)):
        response = client.request(
            method,
            fill(openapi, method, path),
            headers=headers,
            json={} if method != "GET" else None,
        )
        if response.status_code != 401 or response.json()["error"]["code"] != "unauthorized":
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    assert wrong == []


def test_no_key_is_refused_everywhere(client: TestClient) -> None:
    assert_every_operation_refuses(client, {})


def test_an_unknown_key_is_refused_everywhere(api: Api) -> None:
    assert_every_operation_refuses(api.client, {"Authorization": "Bearer bk_nope_not-a-key"})


def test_a_malformed_key_is_refused(api: Api) -> None:
    for authorization in (
        "Bearer ",
        "Bearer",
        f"Basic {api.key}",  # the right key in the wrong scheme
        api.key,  # or bare
        f"Bearer {api.key}x",  # a near miss
        f"Bearer {api.key[:-1]}",
    ):
        for method, path in (("GET", "/v1/services"), ("POST", "/v1/bookings")):
            response = api.client.request(method, path, headers={"Authorization": authorization})
            assert response.status_code == 401, (authorization, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
    assert api.get("/v1/services").status_code == 200


def test_a_revoked_key_is_refused_everywhere(api: Api) -> None:
    async def issue(session: AsyncSession) -> workspaces.IssuedKey:
        return await workspaces.issue_api_key(
            session, api.workspace_id, datetime.now(UTC), name="second"
        )

    second = api.run(issue)
    headers = {"Authorization": f"Bearer {second.key}"}
    svc = factories.service(api)
    seen = api.client.get(f"/v1/services/{svc['service_uid']}", headers=headers)
    assert seen.status_code == 200, seen.text

    async def revoke(session: AsyncSession) -> None:
        await workspaces.revoke_api_key(session, second.id, datetime.now(UTC))

    api.run(revoke)
    assert_every_operation_refuses(api.client, headers)
    # The workspace's other key still works, and nothing was touched.
    assert api.get(f"/v1/services/{svc['service_uid']}").json() == seen.json()
