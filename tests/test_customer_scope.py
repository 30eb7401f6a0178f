"""A customer token sees and acts on its own bot user only, on both databases.

Alice holds a customer token of the workspace; Bob is another bot user of the same workspace.
Every operation of the API is tried with Alice's token. The operations a customer may use each
have a check here (`CHECKS`): Alice reaches her own objects, and Bob's booking answers 404 exactly
like one that does not exist (a list leaves it out). Every other operation is staff's: it answers
403 `forbidden` whatever it names, Alice's own booking included, and changes nothing. The
operations come from the OpenAPI document, so a route added later is staff's until a check here
says otherwise. Afterwards everything of Bob's is exactly as it was.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bookd.actions.endpoints import STAFF_ONLY, ActionName
from tests import factories
from tests.checks import Checks, answers, assert_refused
from tests.conftest import Api
from tests.factories import Customer
from tests.test_isolation import (
    assert_not_found,
    data_of,
    operations,
    paused_trigger,
)


@dataclass
class World:
    staff: Api
    me: Customer  # Alice's token
    uid: str  # active, with a reminder and a follow-up template
    inactive_uid: str
    ns: str  # Alice
    bob: str
    mine: int  # Alice's, pending
    mine_done: int  # Alice's, completed
    theirs: int  # Bob's, pending
    theirs_done: int  # Bob's, completed
    trigger_id: int
    delivery_id: int
    host_uid: str  # active
    inactive_host_uid: str
    triggers: list[tuple[Api, int]] = field(default_factory=list)

    @property
    def bobs(self) -> set[int]:
        return {self.theirs, self.theirs_done}

    def fresh(self) -> int:
        """A new pending booking of Alice's, made by staff: for a check that changes it."""
        made = factories.booking(self.staff, service_uid=self.uid, bot_user_ns=self.ns)
        booking_id: int = made["id"]
        return booking_id


def completed(api: Api, uid: str, ns: str) -> int:
    booking_id: int = factories.booking(api, service_uid=uid, bot_user_ns=ns)["id"]
    assert api.post(f"/v1/bookings/{booking_id}/complete").status_code == 200
    return booking_id


def build_world(api: Api) -> World:
    tag = secrets.token_hex(3)
    uid = f"c_{tag}"
    factories.service(api, service_uid=uid)
    factories.template(api, uid, "reminders", title="Tomorrow", days=1)
    factories.template(api, uid, "followups", title="Thanks", hours=1)
    inactive_uid = factories.service(api, service_uid=f"off_{tag}", status="inactive")[
        "service_uid"
    ]
    ns, bob = f"alice-{tag}", f"bob-{tag}"
    mine = factories.booking(api, service_uid=uid, bot_user_ns=ns)["id"]
    theirs = factories.booking(api, service_uid=uid, bot_user_ns=bob, notes="Bob's notes")["id"]
    triggers: list[tuple[Api, int]] = []
    trigger_id = paused_trigger(api, "hook", triggers)
    sent = api.post(f"/v1/triggers/{trigger_id}/test")
    assert sent.status_code == 202, sent.text
    host_uid, inactive_host_uid = f"host_{tag}", f"away_{tag}"
    for host, active in ((host_uid, True), (inactive_host_uid, False)):
        made = api.post(
            "/v1/hosts",
            {"host_uid": host, "name": "Dr. Who", "email": "dr@example.org", "active": active},
        )
        assert made.status_code == 201, made.text
    return World(
        staff=api,
        me=factories.customer(api, bot_user_ns=ns),
        uid=uid,
        inactive_uid=inactive_uid,
        ns=ns,
        bob=bob,
        mine=mine,
        mine_done=completed(api, uid, ns),
        theirs=theirs,
        theirs_done=completed(api, uid, bob),
        trigger_id=trigger_id,
        delivery_id=sent.json()["id"],
        host_uid=host_uid,
        inactive_host_uid=inactive_host_uid,
        triggers=triggers,
    )


def snapshot(w: World, *, alices: bool) -> dict[str, Any]:
    """What staff see of Bob's objects and the workspace's settings; with `alices`, of Alice's
    bookings and the events too (which her own allowed changes add to)."""
    paths = [
        "/v1/services",
        f"/v1/services/{w.uid}",
        f"/v1/services/{w.uid}/reminders",
        f"/v1/services/{w.uid}/followups",
        f"/v1/bot-users/{w.ns}",
        f"/v1/bot-users/{w.bob}",
        f"/v1/bookings?bot_user_ns={w.bob}",
        "/v1/triggers",
        f"/v1/triggers/{w.trigger_id}/deliveries",
        "/v1/customer-tokens",
        "/v1/calendar-feed",
        "/v1/hosts",
        f"/v1/hosts/{w.host_uid}",
    ]
    bookings = w.bobs | ({w.mine, w.mine_done} if alices else set())
    for booking_id in sorted(bookings):
        paths += [f"/v1/bookings/{booking_id}{more}" for more in ("", "/reminders", "/logs")]
    if alices:
        paths += [f"/v1/bookings?bot_user_ns={w.ns}", "/v1/events?limit=200"]
    return answers(w.staff, paths)


def assert_forbidden(response: Any) -> None:
    assert_refused(response, 403, "forbidden")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    return response.json()


# --- the operations a customer may use, one check each ---------------------------------------------

Check = Callable[[World], None]
CHECKS: Checks[World] = Checks()
covers = CHECKS.covers


# booking services: the active ones only, and their free slots


@covers("GET", "/v1/services")
def _list_services(w: World) -> None:
    listed = data_of(w.me.get("/v1/services"))
    assert [s["service_uid"] for s in listed] == [w.uid]


@covers("GET", "/v1/services/{service_uid}")
def _get_service(w: World) -> None:
    assert ok(w.me.get(f"/v1/services/{w.uid}"))["customer_can_cancel"] is True
    assert_not_found(w.me.get(f"/v1/services/{w.inactive_uid}"))


# hosts: the active ones, their uid, name and kind only


@covers("GET", "/v1/hosts")
def _list_hosts(w: World) -> None:
    listed = data_of(w.me.get("/v1/hosts", params={"limit": 200}))
    assert [h for h in listed if h["host_uid"] in (w.host_uid, w.inactive_host_uid)] == [
        {"host_uid": w.host_uid, "name": "Dr. Who", "kind": "person"}
    ]


@covers("GET", "/v1/hosts/{host_uid}")
def _get_host(w: World) -> None:
    assert ok(w.me.get(f"/v1/hosts/{w.host_uid}")) == {
        "host_uid": w.host_uid,
        "name": "Dr. Who",
        "kind": "person",
    }
    assert_not_found(w.me.get(f"/v1/hosts/{w.inactive_host_uid}"))


@covers("GET", "/v1/services/{service_uid}/slots")
def _slots(w: World) -> None:
    assert ok(w.me.get(f"/v1/services/{w.uid}/slots"))["data"]
    assert_not_found(w.me.get(f"/v1/services/{w.inactive_uid}/slots"))


# bookings


@covers("GET", "/v1/bookings")
def _list_bookings(w: World) -> None:
    listed = data_of(w.me.get("/v1/bookings", params={"limit": 200}))
    assert {b["bot_user_ns"] for b in listed} == {w.ns}
    assert {w.mine, w.mine_done} <= {b["id"] for b in listed}
    assert data_of(w.me.get("/v1/bookings", params={"bot_user_ns": w.bob})) == []
    assert data_of(w.me.get("/v1/bookings", params={"status": "completed"})) == [
        ok(w.me.get(f"/v1/bookings/{w.mine_done}"))
    ]


@covers("POST", "/v1/bookings")
def _create_booking(w: World) -> None:
    body = {"service_uid": w.uid, "bot_user_ns": w.ns, "start_time": factories.future(days=40)}
    assert ok(w.me.post("/v1/bookings", body), 201)["bot_user_ns"] == w.ns
    assert_forbidden(w.me.post("/v1/bookings", {**body, "bot_user_ns": w.bob}))
    assert_forbidden(w.me.post("/v1/bookings", {**body, "force": True}))
    # Staff's answer to an Idempotency-Key is not given again to a customer sending the same body.
    bobs = {**body, "bot_user_ns": w.bob, "start_time": factories.future(days=41)}
    key = {"Idempotency-Key": f"bob-{w.bob}"}
    made = ok(w.staff.post("/v1/bookings", bobs, headers=key), 201)
    assert_forbidden(w.me.post("/v1/bookings", bobs, headers=key))
    assert w.staff.delete(f"/v1/bookings/{made['id']}").status_code == 204


@covers("GET", "/v1/bookings/{booking_id}")
def _get_booking(w: World) -> None:
    assert ok(w.me.get(f"/v1/bookings/{w.mine}"))["bot_user_ns"] == w.ns
    for booking_id in w.bobs:
        assert_not_found(w.me.get(f"/v1/bookings/{booking_id}"))


@covers("GET", "/v1/bookings/{booking_id}.ics")
def _booking_ics(w: World) -> None:
    assert w.me.get(f"/v1/bookings/{w.mine}.ics").text.startswith("BEGIN:VCALENDAR")
    for booking_id in w.bobs:
        assert_not_found(w.me.get(f"/v1/bookings/{booking_id}.ics"))


def _messages(what: str, kept: str) -> None:
    """A booking's reminders or follow-ups; `kept` names the booking of Alice's that has one."""

    @covers("GET", "/v1/bookings/{booking_id}/" + what)
    def _list(w: World) -> None:
        assert data_of(w.me.get(f"/v1/bookings/{getattr(w, kept)}/{what}"))
        for booking_id in w.bobs:
            assert_not_found(w.me.get(f"/v1/bookings/{booking_id}/{what}"))


_messages("reminders", "mine")
_messages("followups", "mine_done")

# A customer's actions on its bookings: (path, body, a field of the answer, its value then).
CUSTOMER_ACTIONS: list[tuple[str, dict[str, Any] | None, str, Any]] = [
    ("confirm", None, "status", "confirmed"),
    (
        "reschedule",
        {"start_time": factories.future(days=50), "reason": "later"},
        "reschedule_count",
        1,
    ),
    ("cancel", {"reason": "cannot come"}, "status", "cancelled"),
]


def _booking_action(path: str, body: dict[str, Any] | None, key: str, value: Any) -> None:
    @covers("POST", "/v1/bookings/{booking_id}/" + path)
    def _act(w: World) -> None:
        for booking_id in w.bobs:
            assert_not_found(w.me.post(f"/v1/bookings/{booking_id}/{path}", body))
        assert ok(w.me.post(f"/v1/bookings/{w.fresh()}/{path}", body))[key] == value


for _path, _body, _key, _value in CUSTOMER_ACTIONS:
    _booking_action(_path, _body, _key, _value)


@covers("POST", "/v1/bookings/{booking_id}/rating")
def _rate(w: World) -> None:
    assert_not_found(w.me.post(f"/v1/bookings/{w.theirs_done}/rating", {"rating": 1}))
    assert ok(w.me.post(f"/v1/bookings/{w.mine_done}/rating", {"rating": 4}))["rating"] == 4
    pending = w.me.post(f"/v1/bookings/{w.mine}/rating", {"rating": 4})
    assert pending.status_code == 409, pending.text
    assert pending.json()["error"]["code"] == "invalid_transition"


# bot users, and the calendar feed (its token is a credential of its own)


@covers("GET", "/v1/bot-users/{bot_user_ns}")
def _get_bot_user(w: World) -> None:
    assert ok(w.me.get(f"/v1/bot-users/{w.ns}"))["bot_user_ns"] == w.ns
    assert_not_found(w.me.get(f"/v1/bot-users/{w.bob}"))


@covers("GET", "/v1/feeds/{token}.ics")
def _feed(w: World) -> None:
    refused = w.me.client.get(f"/v1/feeds/{w.me.key}.ics")
    assert refused.status_code == 401, refused.text


# the seed's action API


def _seed_actions(w: World) -> dict[str, Callable[[], None]]:
    def act(name: str, **params: Any) -> Any:
        return w.me.post(f"/v1/actions/{name}", params)

    def listed_services() -> None:
        listed = ok(act("list_booking_services"))["data"]
        assert [s["service_uid"] for s in listed] == [w.uid]

    def one_service(name: str) -> Callable[[], None]:
        def check() -> None:
            ok(act(name, service_uid=w.uid))
            assert_not_found(act(name, service_uid=w.inactive_uid))

        return check

    def listed_bookings() -> None:
        listed = ok(act("list_bookings", limit=200))["data"]
        assert {b["bot_user_ns"] for b in listed} == {w.ns}
        assert ok(act("list_bookings", bot_user_ns=w.bob))["data"] == []

    def created() -> None:
        params = {"service_uid": w.uid, "start_time": factories.future(days=45)}
        assert ok(act("create_booking", bot_user_ns=w.ns, **params))["data"]["bot_user_ns"] == w.ns
        assert_forbidden(act("create_booking", bot_user_ns=w.bob, **params))

    def on_booking(name: str, key: str, value: Any, **params: Any) -> Callable[[], None]:
        def check() -> None:
            for booking_id in w.bobs:
                assert_not_found(act(name, booking_id=booking_id, **params))
                assert_not_found(act(name, booking_id=booking_id, bot_user_ns=w.bob, **params))
            assert ok(act(name, booking_id=w.fresh(), **params))["data"][key] == value

        return check

    def rated() -> None:
        assert_not_found(act("update_booking_rating", booking_id=w.theirs_done, rating=1))
        rated = ok(act("update_booking_rating", booking_id=w.mine_done, rating=5))
        assert rated["data"]["rating"] == 5

    def listed_hosts() -> None:
        listed = ok(act("list_hosts"))["data"]
        assert {"host_uid": w.host_uid, "name": "Dr. Who", "kind": "person"} in listed
        assert w.inactive_host_uid not in [h["host_uid"] for h in listed]
        assert all(set(h) == {"host_uid", "name", "kind"} for h in listed)

    return {
        "list_booking_services": listed_services,
        "list_hosts": listed_hosts,
        "get_booking_service": one_service("get_booking_service"),
        "list_available_slots": one_service("list_available_slots"),
        "list_bookings": listed_bookings,
        "get_booking": on_booking("get_booking", "bot_user_ns", w.ns),
        "create_booking": created,
        "confirm_booking": on_booking("confirm_booking", "status", "confirmed"),
        "reschedule_booking": on_booking(
            "reschedule_booking",
            "reschedule_count",
            1,
            start_time=factories.future(days=55),
            reschedule_reason="later",
        ),
        "cancel_booking": on_booking("cancel_booking", "status", "cancelled", cancel_reason="no"),
        "update_booking_rating": rated,
    }


def _action(name: str) -> Check:
    def check(w: World) -> None:
        checks = _seed_actions(w)
        assert set(checks) == {a.value for a in ActionName} - STAFF_ONLY
        checks[name]()

    return check


for _name in ActionName:
    if _name not in STAFF_ONLY:
        covers("POST", f"/v1/actions/{_name.value}")(_action(_name.value))


# --- the tests ---------------------------------------------------------------------------------------


def fill(w: World, path: str, booking_id: int) -> str:
    values = {
        "service_uid": w.uid,
        "sequence": "1",
        "booking_id": str(booking_id),
        "bot_user_ns": w.ns,
        "trigger_id": str(w.trigger_id),
        "delivery_id": str(w.delivery_id),
        "token_id": str(w.me.token_id),
        "host_uid": w.host_uid,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_the_checks_name_operations_of_the_api(api: Api) -> None:
    present = operations(api.client)
    assert set(CHECKS) <= present
    staff = present - set(CHECKS)
    assert {("GET", "/v1/events"), ("POST", "/v1/customer-tokens")} <= staff
    assert ("POST", "/v1/actions/mark_booking_completed") in staff


def test_a_customer_token_reaches_only_its_own_bot_user(api: Api) -> None:
    w = build_world(api)
    try:
        before = snapshot(w, alices=True)
        bobs_before = snapshot(w, alices=False)
        staffs = sorted(operations(api.client) - set(CHECKS))
        wrong = []
        for method, path in staffs:
            for booking_id in {w.mine, w.theirs} if "{booking_id}" in path else {w.mine}:
                response = w.me.request(
                    method, fill(w, path, booking_id), json=None if method == "GET" else {}
                )
                if response.status_code != 403 or response.json()["error"]["code"] != "forbidden":
                    wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        assert wrong == []
        assert snapshot(w, alices=True) == before, "a refused operation changed something"

        assert CHECKS.run(w, operations(api.client)) == []
        after = snapshot(w, alices=False)
    finally:
        for owner, trigger_id in w.triggers:
            owner.delete(f"/v1/triggers/{trigger_id}")
    assert after == bobs_before
