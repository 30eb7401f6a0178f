"""A booking service's customer policy (may customers cancel, reschedule, up to how close to the
start), what a customer may do of its own bookings, and how its changes are named in the audit log
and the events; through REST, the action API and the booking service itself, on both databases."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import service as bookings
from bookd.bookings.domain import Action
from bookd.kit.errors import Forbidden
from bookd.workspaces import service as workspaces
from bookd.workspaces.models import Customer as Scope
from bookd.workspaces.models import Workspace
from tests import factories
from tests.checks import assert_refused
from tests.conftest import Api, TestClock
from tests.factories import Customer, iso

NOW = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
START = NOW + timedelta(hours=3)


def policy_service(api: Api, **policy: Any) -> str:
    uid: str = factories.service(api, **policy)["service_uid"]
    return uid


def test_the_policy_is_set_on_the_service_and_shown_with_it(api: Api) -> None:
    plain = factories.service(api)
    assert (
        plain["customer_can_cancel"],
        plain["customer_can_reschedule"],
        plain["customer_cutoff_minutes"],
    ) == (True, True, None)
    uid = policy_service(api, customer_can_cancel=False, customer_cutoff_minutes=1440)
    shown = api.get(f"/v1/services/{uid}").json()
    assert (shown["customer_can_cancel"], shown["customer_cutoff_minutes"]) == (False, 1440)

    patched = api.patch(f"/v1/services/{uid}", {"customer_can_reschedule": False, "name": "New"})
    assert patched.json()["customer_can_reschedule"] is False
    assert patched.json()["customer_cutoff_minutes"] == 1440  # left out: kept
    cleared = api.patch(f"/v1/services/{uid}", {"customer_cutoff_minutes": None})
    assert cleared.json()["customer_cutoff_minutes"] is None
    assert cleared.json()["customer_can_cancel"] is False


@pytest.mark.parametrize("cutoff", [-1, 525_601, 1.5, "60"])
def test_a_cutoff_is_whole_minutes_up_to_a_year(api: Api, cutoff: object) -> None:
    body = {"name": "S", "service_uid": "s", "default_duration": 30}
    created = api.post("/v1/services", {**body, "customer_cutoff_minutes": cutoff})
    assert_refused(created, 422, "validation_error")
    assert created.json()["error"]["details"][0]["field"] == "customer_cutoff_minutes"


def booked(api: Api, clock: TestClock, uid: str) -> tuple[Customer, int]:
    """Ada's customer token (valid for days) and a booking of hers starting at START, with the
    clock at NOW."""
    clock.set(NOW)
    me = factories.customer(api, bot_user_ns="ada", ttl_seconds=7 * 24 * 3600)
    made = factories.booking(api, service_uid=uid, bot_user_ns="ada", start_time=iso(START))
    return me, made["id"]


CANCEL = ("cancel", {"reason": "cannot come"})
RESCHEDULE = ("reschedule", {"start_time": iso(START + timedelta(days=1)), "reason": "later"})


@pytest.mark.parametrize(
    ("policy", "action", "code"),
    [
        ({"customer_can_cancel": False}, CANCEL, "customer_cancel_not_allowed"),
        ({"customer_can_reschedule": False}, RESCHEDULE, "customer_reschedule_not_allowed"),
        ({"customer_cutoff_minutes": 181}, CANCEL, "customer_cutoff_passed"),
        ({"customer_cutoff_minutes": 181}, RESCHEDULE, "customer_cutoff_passed"),
    ],
)
def test_the_policy_refuses_a_customer_but_not_staff(
    api: Api,
    clock: TestClock,
    policy: dict[str, Any],
    action: tuple[str, dict[str, Any]],
    code: str,
) -> None:
    me, booking_id = booked(api, clock, policy_service(api, **policy))
    path, body = action
    assert_refused(me.post(f"/v1/bookings/{booking_id}/{path}", body), 409, code)
    assert api.get(f"/v1/bookings/{booking_id}").json()["version"] == 1  # nothing changed
    assert api.post(f"/v1/bookings/{booking_id}/{path}", body).status_code == 200


def test_the_cutoff_lets_a_customer_change_up_to_that_many_minutes_before(
    api: Api, clock: TestClock
) -> None:
    me, booking_id = booked(api, clock, policy_service(api, customer_cutoff_minutes=180))
    moved = me.post(f"/v1/bookings/{booking_id}/{RESCHEDULE[0]}", RESCHEDULE[1])
    assert moved.status_code == 200, moved.text  # exactly 180 minutes before the old start
    clock.set(START + timedelta(days=1) - timedelta(minutes=179))
    assert_refused(
        me.post(f"/v1/bookings/{booking_id}/cancel", CANCEL[1]), 409, "customer_cutoff_passed"
    )
    confirmed = me.post(f"/v1/bookings/{booking_id}/confirm")
    assert confirmed.status_code == 200, confirmed.text  # the cutoff is about cancel and reschedule


def test_the_action_api_answers_the_same_refusals(api: Api, clock: TestClock) -> None:
    uid = policy_service(api, customer_can_cancel=False, customer_can_reschedule=False)
    me, booking_id = booked(api, clock, uid)
    cancel = {"booking_id": booking_id, "cancel_reason": "no"}
    assert_refused(
        me.post("/v1/actions/cancel_booking", cancel), 409, "customer_cancel_not_allowed"
    )
    reschedule = {
        "booking_id": booking_id,
        "start_time": iso(START + timedelta(days=1)),
        "reschedule_reason": "later",
    }
    assert_refused(
        me.post("/v1/actions/reschedule_booking", reschedule),
        409,
        "customer_reschedule_not_allowed",
    )
    assert api.post("/v1/actions/cancel_booking", cancel).status_code == 200


def test_a_customer_rates_its_completed_bookings_only(api: Api, clock: TestClock) -> None:
    me, booking_id = booked(api, clock, policy_service(api))
    assert_refused(
        me.post(f"/v1/bookings/{booking_id}/rating", {"rating": 5}), 409, "invalid_transition"
    )
    assert api.post(f"/v1/bookings/{booking_id}/rating", {"rating": 2}).status_code == 200
    assert api.post(f"/v1/bookings/{booking_id}/complete").status_code == 200
    rated = me.post(f"/v1/bookings/{booking_id}/rating", {"rating": 5})
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"] == 5


def test_a_customers_change_names_its_token_in_the_log_and_the_events(
    api: Api, clock: TestClock
) -> None:
    me, booking_id = booked(api, clock, policy_service(api))
    made = me.post(
        "/v1/bookings",
        {"service_uid": policy_service(api), "bot_user_ns": "ada", "start_time": iso(START)},
    )
    assert made.status_code == 201, made.text
    assert me.post(f"/v1/bookings/{booking_id}/cancel", CANCEL[1]).status_code == 200
    actor = f"customer:{me.token_id}"
    for changed, action in ((made.json()["id"], "create"), (booking_id, "cancel")):
        logs = api.get(f"/v1/bookings/{changed}/logs").json()["data"]
        assert (logs[-1]["action"], logs[-1]["actor"]) == (action, actor)
    by_type = {e["type"]: e["data"]["actor"] for e in factories.events(api)}
    assert by_type["BOOKING_CANCELLED"] == actor
    assert by_type["BOOKING_CREATED"] == actor  # the later of the two creations: the customer's


def test_the_booking_service_refuses_a_customer_what_is_staffs(api: Api, clock: TestClock) -> None:
    """Without HTTP (as an MCP tool or a self-service page would call it): the booking service
    itself holds a customer to its own actions."""
    me, booking_id = booked(api, clock, policy_service(api))

    async def attempt(session: AsyncSession, action: Action) -> None:
        workspace = await session.get(Workspace, api.workspace_id)
        assert workspace is not None
        ada = await workspaces.get_bot_user(session, api.workspace_id, "ada")
        scope = Scope(token_id=me.token_id, bot_user_id=ada.id, bot_user_ns=ada.ns)
        ctx = bookings.Context(
            session=session, workspace=workspace, actor=scope.actor, now=NOW, customer=scope
        )
        await bookings.act(ctx, booking_id, action)

    for action in (Action.COMPLETE, Action.NO_SHOW):
        with pytest.raises(Forbidden):
            api.run(functools.partial(attempt, action=action))
    assert api.get(f"/v1/bookings/{booking_id}").json()["status"] == "pending"
    api.run(functools.partial(attempt, action=Action.CONFIRM))
    assert api.get(f"/v1/bookings/{booking_id}").json()["status"] == "confirmed"
