"""The MCP tools: one per action of the action API (`actions.endpoints.ACTIONS`), with the same
parameters, the same handlers and the same errors, so that tools and actions cannot drift.

What is added here is for a model that reads them: descriptions (units, time zones, what each
status means, what to do on a refusal), and times in words in the bot user's timezone beside the
ISO 8601 ones in each answer. A customer token is offered the customer's tools only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import mcp_types as types
from pydantic import BaseModel

from bookd.actions.endpoints import ACTIONS, STAFF_ONLY, ActionName, parse_params, perform
from bookd.agents.times import bot_users_named, with_local_times
from bookd.bookings import service as bookings
from bookd.bookings.endpoints import context_of
from bookd.kit.db import Database
from bookd.kit.errors import BookdError
from bookd.workspaces import service as workspaces
from bookd.workspaces.auth import Caller, require_staff

A = ActionName

# The tools that only read: a read transaction (on SQLite it does not queue behind writers), and
# the hint clients show.
READS = frozenset(
    {
        A.list_booking_services,
        A.get_booking_service,
        A.list_booking_service_reminders,
        A.list_booking_service_followups,
        A.list_bookings,
        A.get_booking,
        A.list_available_slots,
        A.list_hosts,
        A.analytics,
    }
)
# The changes that leave a booking in a final status.
FINAL = frozenset({A.cancel_booking, A.mark_booking_completed, A.mark_booking_no_show})

INSTRUCTIONS = """\
bookd keeps the bookings of one business (a workspace): appointments of its customers, each named \
by a `bot_user_ns` (such as `whatsapp:+4915112345678`), for its booking services (appointment \
types, each named by a `service_uid`).

Times you send are ISO 8601 with an offset (`2030-01-02T12:30:00Z`, `2030-01-02T13:30:00+01:00`). \
Times come back in UTC with a `Z`, and beside each one a `<field>_local` in words on the \
customer's wall clock (the bot user's timezone, else the business's), e.g. "Tuesday 3 March 2026, \
15:00 CET": say that one to a person. Durations are whole minutes.

A booking's status: `pending` (made, not yet confirmed), `confirmed`, `in_progress` (its start \
time has come), `completed`, `cancelled`, `no_show` (the customer did not come), `inactive` (its \
service was switched off). The last four are final.

To book: find the service (list_booking_services), a free start (list_available_slots), then \
create_booking with that start. A refusal answers {"error": {"code", "message", "details"}}: \
`unavailable` - the service does not take that time (closed, full, too soon or too far ahead): \
ask list_available_slots and offer those times, never the same time again; `invalid_transition` - \
the booking's status does not allow it (read it with get_booking); `not_found` - no such service \
or booking (or not yours); `validation_error` - `details` names each bad field; `forbidden` - \
this credential may not do that; `customer_cancel_not_allowed`, `customer_reschedule_not_allowed`, \
`customer_cutoff_passed` - the service keeps that change for its staff: tell the customer to \
contact the business.\
"""

_STATUSES = (
    "Statuses: pending (not yet confirmed), confirmed, in_progress (started), completed, "
    "cancelled, no_show (the customer did not come), inactive (service switched off); the last "
    "four are final."
)
_UNAVAILABLE = (
    "If it answers `unavailable`, the service does not take that time: call "
    "list_available_slots and offer those times instead; do not try the same time again."
)
_BOOKING = (
    "Answers the booking: times in UTC (ISO 8601, `Z`) with `start_time_local` and "
    "`end_time_local` in words in the customer's timezone."
)

DESCRIPTIONS: dict[ActionName, str] = {
    A.list_booking_services: (
        "The booking services (appointment types) that can be booked: `service_uid` names one "
        "in every other tool, `default_duration` is its length in minutes, `status` active or "
        "inactive (an inactive one takes no bookings). `customer_can_cancel`, "
        "`customer_can_reschedule` and `customer_cutoff_minutes` say what a customer may change "
        "of a booking, and until how many minutes before its start. Start here."
    ),
    A.get_booking_service: "One booking service by its `service_uid`, as list_booking_services "
    "answers each.",
    A.list_booking_service_reminders: (
        "The reminders a booking service sends before each booking: `sequence` 1-5, `title`, "
        "`description` (placeholders such as [TIME] filled in when sent), and the offset "
        "`days`/`hours`/`minutes` before the start."
    ),
    A.list_booking_service_followups: (
        "The follow-ups a booking service sends after a booking is completed or a no-show: "
        "`sequence` 1-5, `title`, `description`, and the offset `days`/`hours`/`minutes` after "
        "its end."
    ),
    A.list_bookings: (
        "Bookings in the order they were made (oldest first), filtered by `bot_user_ns`, `service_uid` and `status`; at most "
        "`limit` (default 50), and `next_cursor` to pass as `cursor` for more. Times in UTC "
        "with `start_time_local`/`end_time_local` in words in the customer's timezone. " + _STATUSES
    ),
    A.get_booking: (
        "One booking by its `booking_id`, with its reminders and follow-ups (`scheduled_at`, "
        "`status` pending, sent, skipped or cancelled). " + _BOOKING + " " + _STATUSES
    ),
    A.create_booking: (
        "Book `service_uid` for the customer `bot_user_ns` at `start_time` (ISO 8601 with an "
        "offset, in the future; best one that list_available_slots offered). `duration` in "
        "minutes defaults to the service's. `pending_or_confirmed`: `pending` (default) or "
        "`confirmed`. " + _BOOKING + " " + _UNAVAILABLE
    ),
    A.confirm_booking: "Confirm a `pending` booking (it becomes `confirmed`). " + _BOOKING,
    A.reschedule_booking: (
        "Move a `pending` or `confirmed` booking to a new `start_time` (ISO 8601 with an offset, "
        "in the future), with a `reschedule_reason` (required, up to 500 characters). `duration` "
        "in minutes defaults to the booking's; `pending_or_confirmed` sets its status (default: "
        "unchanged). Reminders not yet sent are planned again. " + _BOOKING + " " + _UNAVAILABLE
    ),
    A.cancel_booking: (
        "Cancel a `pending`, `confirmed` or `in_progress` booking, with a `cancel_reason` "
        "(required, up to 500 characters). Final: a cancelled booking cannot be restored; book "
        "again instead. " + _BOOKING
    ),
    A.mark_booking_completed: (
        "Mark a `pending`, `confirmed` or `in_progress` booking `completed` (the customer came); "
        "its follow-ups are planned. Final. " + _BOOKING
    ),
    A.mark_booking_no_show: (
        "Mark a `pending`, `confirmed` or `in_progress` booking `no_show` (the customer did not "
        "come); its follow-ups are planned. Final. " + _BOOKING
    ),
    A.update_booking_rating: (
        "Rate a booking from 0 (worst) to 5 (best). A customer rates a `completed` booking "
        "(`invalid_transition` before); staff rate any. " + _BOOKING
    ),
    A.list_available_slots: (
        "Free start times of `service_uid` between `from` and `to` (ISO 8601 times with an "
        "offset, or dates meaning midnight in `timezone`; default: from now, for 7 days, at most "
        "62 days). `duration` in minutes defaults to the service's. `timezone` (IANA name, e.g. "
        "Europe/Berlin) is the one the answer's `start`/`end` are given in, default the "
        "business's; `start_local`/`end_local` say them in words, in `timezone` if given, else "
        "in the customer's. `remaining`: how many more bookings that start takes (null: no "
        "limit). Book one with create_booking, passing its `start` as `start_time`."
    ),
    A.list_hosts: (
        "The people and resources (rooms, chairs) the business's bookings will be with: "
        "`host_uid`, `name`, `kind` person or resource; to staff also their timezone, working "
        "hours, time off and daily limits."
    ),
    A.analytics: (
        "The business's report per period and service: bookings by status, rates (completion, "
        "cancellation, no-show), lead time, ratings, top reasons, the reminders' effect on "
        "no-shows, webhook deliveries. `from` and `to` are dates (the business's timezone), "
        "`granularity` day, week (default) or month."
    ),
}

# The parameters' meaning, added to the schema each action's model generates.
PARAMETERS: dict[str, str] = {
    "bot_user_ns": "The customer (bot user) the booking is for, e.g. `whatsapp:+4915112345678`; "
    "with it, a booking of another customer is not found.",
    "service_uid": "The booking service, as list_booking_services names it.",
    "booking_id": "The booking's id.",
    "start_time": "ISO 8601 with an offset, e.g. 2030-01-02T12:30:00Z; in the future.",
    "duration": "Minutes, 0 to 1000.",
    "pending_or_confirmed": "The booking's status: pending or confirmed.",
    "location": "Where it takes place, up to 1000 characters.",
    "source": "Where the booking came from (a channel, a campaign), up to 100 characters.",
    "metadata": "A JSON document as a string, up to 5000 characters.",
    "notes": "Notes on the booking, up to 1000 characters; the customer can read them.",
    "reschedule_reason": "Why it moves, 1 to 500 characters.",
    "cancel_reason": "Why it is cancelled, 1 to 500 characters.",
    "rating": "0 (worst) to 5 (best).",
    "status": "Only bookings in this status.",
    "limit": "At most this many, 1 to 200.",
    "cursor": "`next_cursor` of the previous answer, for the ones after it.",
    "from": "An ISO 8601 time with an offset, or a date (YYYY-MM-DD).",
    "to": "An ISO 8601 time with an offset, or a date (YYYY-MM-DD).",
    "timezone": "An IANA timezone name, e.g. Europe/Berlin.",
    "granularity": "day, week or month.",
}


def input_schema(name: ActionName) -> dict[str, Any]:
    """The JSON schema of the action's parameters, as its model generates it (the action API's
    OpenAPI has the same), each parameter described."""
    model, _handler = ACTIONS[name]
    schema = model.model_json_schema()
    for key, prop in schema.get("properties", {}).items():
        if key in PARAMETERS and "description" not in prop:
            prop["description"] = PARAMETERS[key]
    return schema


def offered(caller: Caller) -> list[ActionName]:
    """The tools `caller` may use: all of them for staff, the customer's for a customer token."""
    return [a for a in ActionName if caller.customer is None or a not in STAFF_ONLY]


def tools_for(caller: Caller) -> list[types.Tool]:
    customer = caller.customer
    suffix = (
        f"\n\nYou act for the customer `{customer.bot_user_ns}` only: pass that as `bot_user_ns` "
        "where one is asked for; another customer's bookings are not found."
        if customer is not None
        else ""
    )
    return [
        types.Tool(
            name=action.value,
            title=action.value.replace("_", " ").capitalize(),
            description=DESCRIPTIONS[action] + suffix,
            input_schema=input_schema(action),
            annotations=types.ToolAnnotations(
                read_only_hint=action in READS,
                destructive_hint=action in FINAL,
                open_world_hint=False,
            ),
        )
        for action in offered(caller)
    ]


def refusal(exc: BookdError) -> types.CallToolResult:
    """A tool error carrying what the API's error answer holds: the same code, message, details."""
    return _result(exc.body(), is_error=True)


def _result(answer: dict[str, Any], *, is_error: bool = False) -> types.CallToolResult:
    text = json.dumps(answer, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=answer, is_error=is_error
    )


async def call(
    db: Database, caller: Caller, now: datetime, action: ActionName, arguments: dict[str, Any]
) -> types.CallToolResult:
    """Run the tool as the action API runs the action: staff's refused to a customer before its
    parameters are read, then one transaction, committed here (a refusal rolls it back). A
    refusal is a tool error, not a protocol error: the model reads it and can correct itself."""
    try:
        if action in STAFF_ONLY:
            require_staff(caller)
        params = parse_params(action, arguments)
        async with db.transaction(read_only=action in READS) as session:
            ctx = context_of(caller, session, now)
            answer = (await perform(action, ctx, params)).model_dump(mode="json")
            answer["data"] = await _in_words(ctx, params, answer["data"])
    except BookdError as exc:
        return refusal(exc)
    return _result(answer)


async def _in_words(ctx: bookings.Context, params: BaseModel, data: Any) -> Any:
    """`data` with each time also in words: in the timezone of the bot user an object names;
    else in the one `params` ask for (slots), else in that of the bot user they name or the
    customer's; else in the workspace's."""
    workspace = ctx.workspace
    named = bot_users_named(data)
    asked = getattr(params, "bot_user_ns", None) or (ctx.customer and ctx.customer.bot_user_ns)
    found = await workspaces.bot_user_timezones(
        ctx.session, workspace.id, named | ({asked} if asked else set())
    )
    zone = (
        getattr(params, "timezone", None)
        or (found.get(asked) if asked else None)
        or workspace.timezone
    )
    zones = {ns: found.get(ns, workspace.timezone) for ns in named}
    return with_local_times(data, zone, zones)
