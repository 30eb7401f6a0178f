"""The MCP tools through the SDK's own client, over streamable HTTP and stdio, on both databases:
which tools a credential is offered, a booking's whole life through tool calls, and refusals that
are tool errors with the action API's code and message."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from bookd.actions.endpoints import ACTIONS
from bookd.agents.times import LOCAL_SUFFIX
from tests import factories
from tests.agents.conftest import Connect
from tests.agents.support import TOOLS
from tests.conftest import Api

# What a customer token is offered (docs/agents.md) and what it is not.
CUSTOMER_TOOLS = {
    "list_booking_services",
    "get_booking_service",
    "list_available_slots",
    "list_hosts",
    "list_bookings",
    "get_booking",
    "create_booking",
    "confirm_booking",
    "reschedule_booking",
    "cancel_booking",
    "update_booking_rating",
}
STAFF_ONLY_TOOLS = [
    "list_booking_service_reminders",
    "list_booking_service_followups",
    "mark_booking_completed",
    "mark_booking_no_show",
    "analytics",
]

NINE_TO_FIVE = {
    day: [{"start": "09:00", "end": "17:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
# A Tuesday, before the change to summer time in Europe and in America.
DAY, NEXT_DAY = "2030-03-05", "2030-03-06"


def without_local(value: Any) -> Any:
    """An answer without the times in words: what the API answers."""
    if isinstance(value, list):
        return [without_local(v) for v in value]
    if isinstance(value, dict):
        return {k: without_local(v) for k, v in value.items() if not k.endswith(LOCAL_SUFFIX)}
    return value


def undescribed(schema: dict[str, Any]) -> dict[str, Any]:
    properties = {
        key: {k: v for k, v in prop.items() if k != "description"}
        for key, prop in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties}


def open_service(api: Api) -> str:
    """A 30-minute service, open 09:00-17:00 (the workspace's time) every day for one booking at
    a time, with a reminder a day before."""
    uid: str = factories.service(api, default_duration=30)["service_uid"]
    factories.template(api, uid, "reminders", title="Tomorrow", days=1)
    hours = api.put(f"/v1/services/{uid}/availability", {"weekly_hours": NINE_TO_FIVE})
    assert hours.status_code == 200, hours.text
    return uid


def test_staff_are_offered_every_tool_and_a_customer_only_theirs(
    api: Api, connect: Connect
) -> None:
    ada = factories.customer(api, bot_user_ns="ada")
    with connect(api.key) as staff:
        tools = staff.tools()
    assert list(tools) == TOOLS
    assert set(ACTIONS) == set(TOOLS)
    for action, (model, _handler) in ACTIONS.items():
        tool = tools[action.value]
        # The parameters are the action's own model; what is added is a description of each.
        assert undescribed(tool.input_schema) == undescribed(model.model_json_schema())
        assert all(p.get("description") for p in tool.input_schema["properties"].values())
        assert tool.description and "customer" not in tool.description.split("\n\n")[-1][:8]
    with connect(ada.key) as me:
        offered = me.tools()
        assert list(offered) == [name for name in TOOLS if name in CUSTOMER_TOOLS]
        assert set(tools) - set(offered) == set(STAFF_ONLY_TOOLS)
        assert all("`ada`" in tool.description for tool in offered.values())
        # What a customer is not offered, it is refused, as the action API refuses it.
        uid = factories.service(api)["service_uid"]
        booking_id = factories.booking(api, service_uid=uid, bot_user_ns="ada")["id"]
        for name in STAFF_ONLY_TOOLS:
            arguments: dict[str, Any] = {} if name == "analytics" else {"service_uid": uid}
            if name in ("mark_booking_completed", "mark_booking_no_show"):
                arguments = {"booking_id": booking_id}
            refused = me.refused(name, **arguments)
            answer = ada.post(f"/v1/actions/{name}", arguments)
            assert answer.status_code == 403
            assert refused == answer.json()["error"]
            assert refused["code"] == "forbidden"
    assert api.get(f"/v1/bookings/{booking_id}").json()["status"] == "pending"


def test_a_whole_lifecycle_through_tool_calls(make_workspace: Any, connect: Connect) -> None:
    """A customer in New York books a service of a business in Berlin: finds a slot, books it,
    moves it, cancels it; books again, staff mark it completed, the customer rates it."""
    api: Api = make_workspace(timezone="Europe/Berlin")
    uid = open_service(api)
    assert api.put("/v1/bot-users/ada", {"timezone": "America/New_York"}).status_code == 200
    ada = factories.customer(api, bot_user_ns="ada")
    with connect(ada.key) as me, connect(api.key) as staff:
        assert [s["service_uid"] for s in me.ok("list_booking_services")] == [uid]
        window = {"service_uid": uid, "from": DAY, "to": NEXT_DAY}
        slots = me.ok("list_available_slots", **window, timezone="Europe/Berlin")
        first, second, third = slots[:3]
        assert first["start"] == "2030-03-05T09:00:00+01:00"
        assert first["start_local"] == "Tuesday 5 March 2030, 09:00 CET"
        # Without a timezone asked for: the business's in ISO 8601, the customer's in words.
        assert me.ok("list_available_slots", **window)[0] == {
            **first,
            "start_local": "Tuesday 5 March 2030, 03:00 EST",
            "end_local": "Tuesday 5 March 2030, 03:30 EST",
        }

        booking = {"service_uid": uid, "bot_user_ns": "ada", "start_time": first["start"]}
        booked = me.ok("create_booking", **booking)
        assert (booked["status"], booked["start_time"]) == ("pending", "2030-03-05T08:00:00Z")
        assert booked["start_time_local"] == "Tuesday 5 March 2030, 03:00 EST"
        assert booked["end_time_local"] == "Tuesday 5 March 2030, 03:30 EST"
        # The service takes one booking at a time: that start is gone.
        assert me.refused("create_booking", **booking)["code"] == "unavailable"
        assert first not in me.ok("list_available_slots", **window, timezone="Europe/Berlin")

        moved = me.ok(
            "reschedule_booking",
            booking_id=booked["id"],
            start_time=second["start"],
            reschedule_reason="Half an hour later suits me",
        )
        assert (moved["reschedule_count"], moved["start_time_local"]) == (
            1,
            "Tuesday 5 March 2030, 03:30 EST",
        )
        [reminder] = me.ok("get_booking", booking_id=booked["id"])["reminders"]
        assert reminder["scheduled_at"] == "2030-03-04T08:30:00Z"
        assert reminder["scheduled_at_local"] == "Monday 4 March 2030, 03:30 EST"
        cancelled = me.ok("cancel_booking", booking_id=booked["id"], cancel_reason="I am ill")
        assert cancelled["status"] == "cancelled"

        again = me.ok(
            "create_booking",
            **booking | {"start_time": third["start"]},
            pending_or_confirmed="confirmed",
        )
        assert again["status"] == "confirmed"
        early = me.refused("update_booking_rating", booking_id=again["id"], rating=5)
        assert early["code"] == "invalid_transition"
        done = staff.ok("mark_booking_completed", booking_id=again["id"])
        # Staff read the times in the customer's timezone too: it is the customer's appointment.
        assert (done["status"], done["start_time_local"]) == (
            "completed",
            "Tuesday 5 March 2030, 04:00 EST",
        )
        rated = me.ok("update_booking_rating", booking_id=again["id"], rating=5)
        assert rated["rating"] == 5
        mine = me.ok("list_bookings")
        assert [(b["id"], b["status"]) for b in mine] == [
            (booked["id"], "cancelled"),
            (again["id"], "completed"),
        ]

    # The tools answer what the API answers (times in words aside), and every change is logged
    # as its caller's: the customer's token, the staff's key.
    assert without_local(rated) == api.get(f"/v1/bookings/{again['id']}").json()
    assert (
        without_local(mine) == api.get("/v1/bookings", params={"bot_user_ns": "ada"}).json()["data"]
    )
    actors = {
        log["action"]: log["actor"]
        for booking_id in (booked["id"], again["id"])
        for log in api.get(f"/v1/bookings/{booking_id}/logs").json()["data"]
    }
    customer = f"customer:{ada.token_id}"
    assert {a: actor == customer for a, actor in actors.items()} == {
        "create": True,
        "reschedule": True,
        "cancel": True,
        "complete": False,
        "rate": True,
    }


def test_refusals_are_tool_errors_with_the_apis_code_and_message(
    api: Api, connect: Connect
) -> None:
    uid = open_service(api)
    confirmed = factories.booking(
        api, service_uid=uid, start_time="2030-03-05T10:00:00Z", status="confirmed"
    )["id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("create_booking", {"service_uid": uid}),
        ("create_booking", {"service_uid": uid, "bot_user_ns": "ada", "start_time": "soon"}),
        # 04:00 is before the service opens.
        (
            "create_booking",
            {"service_uid": uid, "bot_user_ns": "ada", "start_time": "2030-03-05T04:00:00Z"},
        ),
        ("get_booking", {"booking_id": 2**31 - 1}),
        ("get_booking", {"booking_id": confirmed, "bot_user_ns": "somebody-else"}),
        ("confirm_booking", {"booking_id": confirmed}),
        ("cancel_booking", {"booking_id": confirmed, "cancel_reason": ""}),
        ("update_booking_rating", {"booking_id": confirmed, "rating": 6}),
        ("get_booking_service", {"service_uid": "no_such_service"}),
        ("list_available_slots", {"service_uid": uid, "from": NEXT_DAY, "to": DAY}),
        ("list_bookings", {"status": "lost", "unknown": 1}),
    ]
    before = api.get("/v1/bookings").json()
    with connect(api.key) as staff:
        codes = []
        for name, arguments in calls:
            refused = staff.refused(name, **arguments)
            answer = api.post(f"/v1/actions/{name}", arguments)
            assert refused == answer.json()["error"], name
            codes.append(refused["code"])
        with pytest.raises(MCPError) as unknown:
            staff.call("delete_everything")
        assert "unknown tool" in unknown.value.message
    assert codes == [
        "validation_error",
        "validation_error",
        "unavailable",
        "not_found",
        "not_found",
        "invalid_transition",
        "validation_error",
        "validation_error",
        "not_found",
        "validation_error",
        "validation_error",
    ]
    assert api.get("/v1/bookings").json() == before  # a refusal changes nothing
