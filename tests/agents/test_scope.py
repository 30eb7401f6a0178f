"""A customer token over MCP, on both transports and both databases: it never reaches another bot
user's booking through any tool, and its revocation and expiry take effect at its next request.

Ada holds the token; Bob is another bot user of the same workspace. Every tool is tried with
Ada's token on Bob's bookings; each refusal is the action API's own, and afterwards everything of
Bob's is as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp.shared.exceptions import MCPError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.agents.server import CREDENTIAL_REFUSED
from bookd.workspaces.models import CustomerToken
from tests import factories
from tests.agents.conftest import Connect
from tests.agents.support import TOOLS, Agent, over_http, over_stdio
from tests.conftest import Api, TestClock
from tests.factories import Customer

# Every action of docs/actions.md: each one is tried.
EVERY_TOOL = set(TOOLS)

# The arguments each booking tool takes besides `booking_id`.
BOOKING_TOOLS: dict[str, dict[str, Any]] = {
    "get_booking": {},
    "confirm_booking": {},
    "reschedule_booking": {
        "start_time": factories.future(days=50),
        "reschedule_reason": "Ada would like Bob's slot",
    },
    "cancel_booking": {"cancel_reason": "Ada says Bob cannot come"},
    "mark_booking_completed": {},
    "mark_booking_no_show": {},
    "update_booking_rating": {"rating": 0},
}


def bobs_side(api: Api, bob: str, booking_ids: list[int]) -> dict[str, Any]:
    """What staff see of Bob: his bookings, each with its reminders and log, and his events."""
    seen: dict[str, Any] = {"list": api.get("/v1/bookings", params={"bot_user_ns": bob}).json()}
    for booking_id in booking_ids:
        for more in ("", "/reminders", "/followups", "/logs"):
            seen[f"{booking_id}{more}"] = api.get(f"/v1/bookings/{booking_id}{more}").json()
        seen[f"{booking_id} events"] = api.get(
            "/v1/events", params={"booking_id": booking_id}
        ).json()
    return seen


def test_a_customer_never_reaches_another_bot_users_booking(api: Api, connect: Connect) -> None:
    uid = factories.service(api)["service_uid"]
    factories.template(api, uid, "reminders", title="Tomorrow", days=1)
    mine = factories.booking(api, service_uid=uid, bot_user_ns="ada")["id"]
    bobs = [factories.booking(api, service_uid=uid, bot_user_ns="bob")["id"] for _ in range(2)]
    assert api.post(f"/v1/bookings/{bobs[1]}/complete").status_code == 200
    before = bobs_side(api, "bob", bobs)
    ada = factories.customer(api, bot_user_ns="ada")
    tried: set[str] = set()

    def refused_as_by_the_api(me: Agent, name: str, **arguments: Any) -> str:
        error = me.refused(name, **arguments)
        assert error == ada.post(f"/v1/actions/{name}", arguments).json()["error"], name
        tried.add(name)
        code: str = error["code"]
        return code

    with connect(ada.key) as me:
        for booking_id in bobs:
            for name, more in BOOKING_TOOLS.items():
                for named in ({}, {"bot_user_ns": "bob"}, {"bot_user_ns": "ada"}):
                    code = refused_as_by_the_api(me, name, booking_id=booking_id, **more, **named)
                    staff_only = name in ("mark_booking_completed", "mark_booking_no_show")
                    assert code == ("forbidden" if staff_only else "not_found")
        # Bob's booking is answered as a booking that does not exist.
        nowhere = me.refused("get_booking", booking_id=2**31 - 1)
        for booking_id in bobs:
            theirs = me.refused("get_booking", booking_id=booking_id)
            assert theirs["message"].replace(str(booking_id), "N") == nowhere["message"].replace(
                str(2**31 - 1), "N"
            )
        # Lists leave Bob out; booking for Bob, or reading the staff's lists, is refused.
        assert me.ok("list_bookings", bot_user_ns="bob") == []
        assert [b["id"] for b in me.ok("list_bookings")] == [mine]
        for status in ("pending", "completed"):
            assert me.ok("list_bookings", bot_user_ns="bob", status=status) == []
        start = factories.future(days=60)
        create = {"service_uid": uid, "bot_user_ns": "bob", "start_time": start}
        assert refused_as_by_the_api(me, "create_booking", **create) == "forbidden"
        for name in ("list_booking_service_reminders", "list_booking_service_followups"):
            assert (
                refused_as_by_the_api(me, name, service_uid=uid, bot_user_ns="bob") == "forbidden"
            )
        assert refused_as_by_the_api(me, "analytics", service_uid=uid) == "forbidden"
        # The service and its free times are the customer's to read; they hold no booking.
        tried.add("list_bookings")
        for name, arguments in [
            ("list_booking_services", {"bot_user_ns": "bob"}),
            ("get_booking_service", {"service_uid": uid, "bot_user_ns": "bob"}),
            ("list_available_slots", {"service_uid": uid, "bot_user_ns": "bob"}),
            ("list_hosts", {"bot_user_ns": "bob"}),
        ]:
            answer = me.ok(name, **arguments)
            assert "bot_user_ns" not in str(answer) and "id': " + str(bobs[0]) not in str(answer)
            tried.add(name)
    assert tried == EVERY_TOOL
    assert bobs_side(api, "bob", bobs) == before


def assert_refused_at_once(me: Agent, customer: Customer) -> None:
    """Every request of `me` is refused now, with the API's 401: its message, and its error as
    the protocol error's data."""
    answer = customer.get("/v1/bookings")
    assert answer.status_code == 401
    requests: list[Callable[[], object]] = [
        lambda: me.call("list_bookings"),
        lambda: me.call("create_booking", {"service_uid": "any", "bot_user_ns": "ada"}),
        me.tool_names,
    ]
    for request in requests:
        with pytest.raises(MCPError) as refused:
            request()
        assert refused.value.code == CREDENTIAL_REFUSED
        assert refused.value.message == answer.json()["error"]["message"]
        assert refused.value.data == answer.json()


def test_a_revoked_customer_token_is_refused_at_once(api: Api, connect: Connect) -> None:
    ada = factories.customer(api, bot_user_ns="ada")
    with connect(ada.key) as me, connect(api.key) as staff:
        assert me.ok("list_bookings") == []
        assert api.delete(f"/v1/customer-tokens/{ada.token_id}").status_code == 204
        assert_refused_at_once(me, ada)
        # Staff's key is another credential: untouched.
        assert staff.ok("list_bookings") == []


def test_an_expired_customer_token_is_refused_at_once_over_http(
    api: Api, client: TestClient, clock: TestClock
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock.set(start)
    ada = factories.customer(api, bot_user_ns="ada", ttl_seconds=600)
    with over_http(client, ada.key) as me:
        clock.set(start + timedelta(seconds=599))
        assert me.ok("list_bookings") == []
        clock.set(start + timedelta(seconds=600))
        assert_refused_at_once(me, ada)


def test_an_expired_customer_token_is_refused_at_once_over_stdio(
    api: Api, database_url: str
) -> None:
    ada = factories.customer(api, bot_user_ns="ada", ttl_seconds=3600)
    with over_stdio(database_url, ada.key) as me:
        assert me.ok("list_bookings") == []

        # Its time comes. `bookd mcp` reads the real clock, so rather than wait an hour the
        # test moves the token's expiry to now.
        async def expire(session: AsyncSession) -> None:
            await session.execute(
                update(CustomerToken)
                .where(CustomerToken.id == ada.token_id)
                .values(expires_at=datetime.now(UTC))
            )

        api.run(expire)
        assert_refused_at_once(me, ada)
