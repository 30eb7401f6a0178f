"""The self-service page of one booking: what it is, and the changes its customer may make now
(confirm, move to a free time, cancel with a reason, rate once it took place), each through the
booking service with the customer's context, so that the scoping and the service's customer
policy are the service layer's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from bookd.availability.schemas import SlotOut
from bookd.bookings import render as placeholders
from bookd.bookings import service as bookings
from bookd.bookings import slots as free_time
from bookd.bookings.domain import Action
from bookd.bookings.schemas import CancelBody, RatingBody, RescheduleBody
from bookd.kit.errors import BookdError, NotFound
from bookd.kit.pages import (
    IdInPath,
    TextInQuery,
    WordInPath,
    day_asked,
    error_status,
    field_errors,
    first_error,
    form_data,
    parse,
    read_number,
    set_cookie,
)
from bookd.kit.schemas import NO_NUL
from bookd.selfservice.web import (
    COOKIE_PATH,
    CUSTOMER_COOKIE,
    SelfServiceRoute,
    Visit,
    Visitor,
    caller_of,
    get_visit,
)
from bookd.workspaces import service as workspaces

router = APIRouter(route_class=SelfServiceRoute, include_in_schema=False)

PAGE = placeholders.MANAGE_PATH
LinkToken = Annotated[
    str, Query(alias=placeholders.MANAGE_TOKEN_PARAM, max_length=200, pattern=NO_NUL)
]

# The forms of the page, by the last segment of the address they post to.
ACTIONS = {
    "confirm": Action.CONFIRM,
    "reschedule": Action.RESCHEDULE,
    "cancel": Action.CANCEL,
    "rating": Action.RATE,
}
DONE = {
    "confirm": "Your booking is confirmed.",
    "reschedule": "Your booking is moved to the new time.",
    "cancel": "Your booking is cancelled.",
    "rating": "Thank you for your rating.",
}
# A status as its customer reads it.
STATUS_TEXT = {
    "pending": "Booked, not yet confirmed",
    "confirmed": "Confirmed",
    "in_progress": "Taking place now",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_show": "Missed",
    "inactive": "No longer offered",
}


def _page_of(booking_id: int) -> str:
    return PAGE.format(booking_id=booking_id)


@router.get(PAGE)
async def booking_page(
    request: Request, booking_id: IdInPath, t: LinkToken = "", day: TextInQuery = ""
) -> Response:
    """The booking; with the link's token (`?t=`), first the exchange for a cookie. `day`: the
    day whose free times are offered for a move."""
    if t:
        return await exchange(request, booking_id, t)
    visit = await get_visit(request)
    return await _show(visit, booking_id, day=day)


async def exchange(request: Request, booking_id: int, token: str) -> Response:
    """The link's token, checked, into an HttpOnly cookie that lasts as long as the token, and a
    redirect to the page's address without it."""
    now: datetime = request.app.state.clock()
    caller = await caller_of(request, token, now)
    assert caller.customer is not None
    expires_at = await workspaces.customer_token_expires_at(
        request.state.session, caller.customer.token_id
    )
    response = RedirectResponse(_page_of(booking_id), status_code=303)
    set_cookie(response, request, CUSTOMER_COOKIE, token, expires_at - now, path=COOKIE_PATH)
    return response


async def _show(
    visit: Visit,
    booking_id: int,
    *,
    day: str = "",
    form_id: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ctx = visit.context()
    loaded = await bookings.load(ctx, booking_id)
    booking = loaded.booking
    tz = ZoneInfo(loaded.bot_user.timezone or visit.workspace.timezone)
    offers = {
        action.value: refusal for action, refusal in bookings.customer_offers(ctx, loaded).items()
    }
    forms = {form_id: {"values": values or {}, "errors": dict(errors or {})}} if form_id else {}
    # A refused form the page no longer offers (the booking changed meanwhile) says why on top.
    refusal = ""
    if form_id and errors and offers.get(ACTIONS[form_id].value, "not offered") is not None:
        refusal = errors.get("form") or next(iter(errors.values()))
    move = forms.setdefault("reschedule", {"values": {}, "errors": {}})
    # The day whose free times are offered: the one asked for, else the booking's own day (or
    # today, once that has passed).
    default = max(booking.start_time, visit.now).astimezone(tz).date()
    shown_day = day_asked(day, default, move["errors"])
    slots: list[SlotOut] = []
    if "reschedule" in offers and offers["reschedule"] is None:
        slots = await _free_times(visit, loaded, shown_day, tz, move["errors"])
    return visit.render(
        "my_booking.html",
        tz=tz,
        status=status,
        title=loaded.service.name,
        b=booking,
        service=loaded.service,
        status_text=STATUS_TEXT.get(booking.status, booking.status),
        offers=offers,
        forms=forms,
        refusal=refusal,
        slots=slots,
        day=shown_day,
        prev_day=(shown_day - timedelta(days=1)).isoformat(),
        next_day=(shown_day + timedelta(days=1)).isoformat(),
        page=_page_of(booking_id),
    )


async def _free_times(
    visit: Visit, loaded: bookings.Loaded, day: date, tz: ZoneInfo, errors: dict[str, str]
) -> list[SlotOut]:
    """The times of `day` (in the customer's zone) the booking could move to, for its length;
    what refuses the day goes into `errors`."""
    try:
        found = await free_time.day_slots(
            visit.session,
            visit.workspace,
            loaded.service.service_uid,
            day,
            visit.now,
            duration=loaded.booking.duration,
            timezone=tz.key,
            customer=visit.customer,
            exclude_booking_id=loaded.booking.id,
        )
    except (ValidationError, BookdError) as exc:
        errors.setdefault("day", first_error(exc))
        return []
    return found.data


@router.post(PAGE + "/{action}")
async def booking_action(visit: Visitor, booking_id: IdInPath, action: WordInPath) -> Response:
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r}")
    ctx = visit.context()
    form = visit.form
    version = read_number(form.get("version", ""), 2**63 - 1)
    try:
        if action == "reschedule":
            body = parse(RescheduleBody, form_data(form, ("start_time", "reason")))
            await bookings.reschedule(ctx, booking_id, body, if_match=version)
        elif action == "cancel":
            reason = parse(CancelBody, form_data(form, ("reason",))).reason
            await bookings.act(ctx, booking_id, Action.CANCEL, if_match=version, reason=reason)
        elif action == "rating":
            rating = parse(RatingBody, form_data(form, ("rating",), ints=("rating",))).rating
            await bookings.rate(ctx, booking_id, rating, if_match=version)
        else:
            await bookings.act(ctx, booking_id, ACTIONS[action], if_match=version)
    except (ValidationError, BookdError) as exc:
        if isinstance(exc, BookdError) and exc.status_code in (403, 404):
            raise
        await visit.refused()
        errors = field_errors(exc)
        if action == "reschedule" and not form.get("start_time"):
            errors["start_time"] = "Pick one of the free times."
        return await _show(
            visit,
            booking_id,
            day=form.get("day", ""),
            form_id=action,
            values=form,
            errors=errors,
            status=error_status(exc),
        )
    return visit.redirect(_page_of(booking_id), DONE[action])
