"""Bookings: the list with its filters and week calendar, a booking's page with every action its
status allows, and creating a booking."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from bookd.availability import service as availability
from bookd.availability.schemas import SlotOut
from bookd.bookings import queries
from bookd.bookings import service as bookings
from bookd.bookings import slots as free_time
from bookd.bookings.domain import Action, Status, decide
from bookd.bookings.schemas import (
    BookingCreate,
    BookingFilters,
    BookingUpdate,
    CancelBody,
    LogOut,
    RatingBody,
    RescheduleBody,
)
from bookd.calendars import service as calendars
from bookd.catalog import service as catalog
from bookd.console import audit, auth
from bookd.console.web import ConsoleRoute, SignedIn, day_start, from_local
from bookd.kit.errors import BookdError, InvalidTransition, ValidationFailed
from bookd.kit.pages import (
    A_DATE,
    MAX_ID,
    IdInPath,
    TextInQuery,
    WordInPath,
    day_asked,
    error_status,
    field_errors,
    first_error,
    form_data,
    parse,
    read_day,
    read_number,
)
from bookd.kit.schemas import EARLIEST, LATEST, NO_NUL
from bookd.scheduling.service import planned_followups
from bookd.workspaces import service as workspaces
from bookd.workspaces.auth import api_key_actor

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

BookingId = IdInPath
ActionName = WordInPath
Text = TextInQuery
PAGE_SIZE = 50
STATUSES = [s.value for s in Status]
# The buttons of a booking's page, in the order shown; which appear is the domain's decision.
ACTIONS = (
    Action.CONFIRM,
    Action.RESCHEDULE,
    Action.CANCEL,
    Action.COMPLETE,
    Action.NO_SHOW,
    Action.RATE,
    Action.UPDATE,
    Action.DELETE,
)
SIMPLE = {"confirm": Action.CONFIRM, "complete": Action.COMPLETE, "no-show": Action.NO_SHOW}
# What each action of a booking's page says it did, on the page it leads back to.
DONE = {
    "confirm": "Booking confirmed.",
    "complete": "Booking marked completed: its follow-ups are scheduled.",
    "no-show": "Booking marked no-show: its follow-ups are scheduled.",
    "cancel": "Booking cancelled: its reminders will not go out.",
    "reschedule": "Booking rescheduled: its reminders follow the new time.",
    "rating": "Rating saved.",
    "details": "Details saved.",
}


def allowed_actions(status: str) -> list[str]:
    allowed = []
    for action in ACTIONS:
        try:
            decide(Status(status), action)
        except InvalidTransition:
            continue
        allowed.append(action.value)
    return allowed


def _instant(value: str) -> datetime | None:
    """The start time a page of the list continues after, if it is one; else None (page one)."""
    try:
        instant = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return instant if instant and instant.tzinfo and EARLIEST <= instant <= LATEST else None


@router.get("/bookings")
async def bookings_list(
    page: SignedIn,
    view: Text = "",
    week: Text = "",
    status: Text = "",
    service_uid: Text = "",
    bot_user_ns: Text = "",
    start: Annotated[str, Query(alias="from", pattern=NO_NUL)] = "",
    end: Annotated[str, Query(alias="to", pattern=NO_NUL)] = "",
    after: Text = "",
    after_start: Text = "",
) -> Response:
    """In start-time order; without a `from` in the address, from today on (the filter form always
    sends one: emptied, it shows every booking)."""
    if start == "" and "from" not in page.request.query_params:
        start = page.now.astimezone(page.tz).date().isoformat()
    given = {
        "view": view,
        "week": week,
        "status": status,
        "service_uid": service_uid,
        "bot_user_ns": bot_user_ns,
        "from": start,
        "to": end,
        "after": after,
        "after_start": after_start,
    }
    query = {k: v[:200] for k, v in given.items() if v}
    view = "week" if query.get("view") == "week" else "list"
    tz = page.tz
    errors: dict[str, str] = {}
    start_from = start_to = None
    week_days: list[date] = []
    if view == "week":
        today = page.now.astimezone(tz).date()
        anchor = read_day(query.get("week", "")) or today
        monday = anchor - timedelta(days=anchor.weekday())
        week_days = [monday + timedelta(days=i) for i in range(7)]
        start_from, start_to = day_start(monday, tz), day_start(monday + timedelta(days=7), tz)
    else:
        for name in ("from", "to"):
            if query.get(name) and read_day(query[name]) is None:
                errors[name] = A_DATE
        first, last = read_day(query.get("from", "")), read_day(query.get("to", ""))
        start_from = day_start(first, tz) if first else None
        start_to = day_start(last + timedelta(days=1), tz) if last else None
    raw = {
        "bot_user_ns": query.get("bot_user_ns") or None,
        "service_uid": query.get("service_uid") or None,
        "status": query.get("status") or None,
        "start_from": start_from,
        "start_to": start_to,
    }
    rows: list[bookings.Loaded] = []
    after_id = read_number(query.get("after", ""), MAX_ID)
    try:
        filters = parse(BookingFilters, raw)
        limit = 500 if view == "week" else PAGE_SIZE
        rows = await queries.list_bookings(
            page.context(),
            filters,
            limit=limit + 1,
            after_id=after_id,
            by_start=True,
            after_start=_instant(query.get("after_start", "")),
        )
    except ValidationError as exc:
        errors.update(field_errors(exc))
        limit = PAGE_SIZE
    more = len(rows) > limit
    rows = rows[:limit]
    services = await catalog.list_services(
        page.session, page.workspace_id, limit=catalog.MAX_SERVICES
    )
    by_day: dict[date, list[bookings.Loaded]] = {d: [] for d in week_days}
    for row in rows:
        day = row.booking.start_time.astimezone(tz).date()
        if day in by_day:
            by_day[day].append(row)
    next_query = {k: v for k, v in query.items() if k not in ("after", "after_start")}
    next_query.setdefault("from", "")
    if more and rows:
        next_query["after"] = str(rows[-1].booking.id)
        next_query["after_start"] = rows[-1].booking.start_time.isoformat()
    week_start = week_days[0] if week_days else None
    return page.render(
        "bookings.html",
        title="Bookings",
        view=view,
        rows=rows,
        more=more,
        next_query=next_query,
        query=query,
        errors=errors,
        services=services,
        statuses=STATUSES,
        by_day=by_day,
        week_start=week_start,
        prev_week=(week_start - timedelta(days=7)).isoformat() if week_start else "",
        next_week=(week_start + timedelta(days=7)).isoformat() if week_start else "",
    )


async def _new_page(
    page: SignedIn,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values, errors = values or {}, dict(errors or {})
    services = await catalog.list_services(
        page.session, page.workspace_id, limit=catalog.MAX_SERVICES
    )
    active = [s for s in services if s.status == "active"]
    chosen = next((s for s in active if s.service_uid == values.get("service_uid")), None)
    chosen = chosen or (active[0] if active else None)
    day = day_asked(values.get("day", ""), page.now.astimezone(page.tz).date(), errors)
    slots: list[SlotOut] | None = None
    if chosen is not None and await availability.find_settings(page.session, chosen.id):
        # Only a service with settings offers slots: without, every time is free.
        minutes = read_number(values.get("duration", "").strip(), 9999)
        try:
            found = await free_time.day_slots(
                page.session, page.workspace, chosen.service_uid, day, page.now, duration=minutes
            )
            slots = found.data
        except (ValidationError, BookdError) as exc:
            errors.setdefault("day", first_error(exc))
            slots = []
    return page.render(
        "booking_new.html",
        status=status,
        title="New booking",
        services=active,
        chosen=chosen,
        values=values,
        errors=errors,
        slots=slots,
        day=day,
        prev_day=(day - timedelta(days=1)).isoformat(),
        next_day=(day + timedelta(days=1)).isoformat(),
    )


@router.get("/bookings/new")
async def booking_new(
    page: SignedIn, service_uid: Text = "", day: Text = "", duration: Text = ""
) -> Response:
    """`service_uid` and `day` choose the free times offered (a service with settings)."""
    values = {"service_uid": service_uid[:50], "day": day[:10], "duration": duration[:4]}
    return await _new_page(page, values=values)


@router.post("/bookings")
async def booking_create(page: SignedIn) -> Response:
    if "show" in page.form:
        # "Show free times": the same form again, for the service and day now chosen; no change.
        return await _new_page(page, values=page.form)
    data = form_data(
        page.form,
        (
            "service_uid",
            "bot_user_ns",
            "start_time",
            "duration",
            "status",
            "location",
            "source",
            "metadata",
            "notes",
        ),
        ints=("duration",),
        optional=("duration", "metadata"),
    )
    slot = page.form.get("slot", "")
    if slot and slot != "other":
        data["start_time"] = slot  # an offered slot: an instant with its offset
    if "start_time" in data:
        data["start_time"] = from_local(data["start_time"], page.tz)
    if "force" in page.form:
        data["force"] = True
    try:
        loaded = await bookings.create_booking(page.context(), parse(BookingCreate, data))
    except (ValidationError, BookdError) as exc:
        await page.refused()
        return await _new_page(
            page, values=page.form, errors=field_errors(exc), status=error_status(exc)
        )
    return page.redirect(f"/bookings/{loaded.booking.id}", f"Booking {loaded.booking.id} created.")


async def _booking_page(
    page: SignedIn,
    booking_id: int,
    *,
    form_id: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ctx = page.context()
    loaded = await bookings.load(ctx, booking_id)
    reminders = await queries.list_messages(ctx, booking_id, bookings.REMINDER)
    followups = await queries.list_messages(ctx, booking_id, bookings.FOLLOWUP)
    planned = await planned_followups(page.session, page.tz, [(loaded.booking, loaded.service)])
    logs = [
        LogOut.of(log) for log in await queries.list_logs(ctx, booking_id, limit=500, after_id=None)
    ]
    names = {
        f"admin_user:{u.id}": u.email
        for u in await auth.list_users(page.session, page.workspace_id)
    } | {
        api_key_actor(k.id): f"API key “{k.name}”"
        for k in await workspaces.list_api_keys(page.session, page.workspace_id)
    }
    forms = {form_id: {"values": values or {}, "errors": errors or {}}} if form_id else {}
    return page.render(
        "booking.html",
        status=status,
        title=f"Booking {booking_id}",
        b=loaded.booking,
        service=loaded.service,
        bot_user=loaded.bot_user,
        reminders=reminders,
        followups=followups,
        planned=[] if followups else planned.get(booking_id, []),
        # Only availability settings can refuse a time: without, there is nothing to force.
        has_availability=await availability.find_settings(page.session, loaded.service.id)
        is not None,
        logs=logs,
        actor_name=lambda actor: audit.actor_name(actor, names),
        describe=lambda details: audit.describe(details, page.tz),
        allowed=allowed_actions(loaded.booking.status),
        forms=forms,
    )


# Registered before `/bookings/{booking_id}`, whose number would not read "12.ics".
@router.get("/bookings/{booking_id}.ics")
async def booking_ics(page: SignedIn, booking_id: BookingId) -> Response:
    """The booking as iCalendar, as `GET /v1/bookings/{id}.ics` answers it."""
    loaded = await bookings.load(page.context(), booking_id)
    body = calendars.booking_ics(page.workspace_id, loaded.booking, loaded.service, loaded.bot_user)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="booking-{booking_id}.ics"'},
    )


@router.get("/bookings/{booking_id}")
async def booking_page(page: SignedIn, booking_id: BookingId) -> Response:
    return await _booking_page(page, booking_id)


def _version(form: dict[str, str]) -> int | None:
    """The version the page showed: a change made meanwhile refuses the action (409)."""
    return read_number(form.get("version", ""), 2**63 - 1)


@router.post("/bookings/{booking_id}/{action}")
async def booking_action(page: SignedIn, booking_id: BookingId, action: ActionName) -> Response:
    ctx = page.context()
    form = page.form
    version = _version(form)
    try:
        if action in SIMPLE:
            await bookings.act(ctx, booking_id, SIMPLE[action], if_match=version)
        elif action == "cancel":
            body = parse(CancelBody, form_data(form, ("reason",)))
            await bookings.act(ctx, booking_id, Action.CANCEL, if_match=version, reason=body.reason)
        elif action == "reschedule":
            data = form_data(
                form,
                ("start_time", "duration", "status", "reason"),
                ints=("duration",),
                optional=("duration", "status"),
            )
            if "start_time" in data:
                data["start_time"] = from_local(data["start_time"], page.tz)
            if "force" in form:
                data["force"] = True
            await bookings.reschedule(
                ctx, booking_id, parse(RescheduleBody, data), if_match=version
            )
        elif action == "rating":
            body_rating = parse(RatingBody, form_data(form, ("rating",), ints=("rating",)))
            await bookings.rate(ctx, booking_id, body_rating.rating, if_match=version)
        elif action == "details":
            data = form_data(form, ("location", "source", "metadata", "notes"))
            if data.get("metadata", "").strip() == "":
                data["metadata"] = None  # an emptied field clears the metadata
            await bookings.update_details(
                ctx, booking_id, parse(BookingUpdate, data), if_match=version
            )
        elif action == "delete":
            await bookings.delete_booking(ctx, booking_id, if_match=version)
            return page.redirect("/bookings", f"Booking {booking_id} deleted.")
        else:
            raise ValidationFailed.on("action", "unknown_action", f"no action {action!r}")
    except (ValidationError, BookdError) as exc:
        if isinstance(exc, BookdError) and exc.status_code == 404:
            raise
        await page.refused()
        return await _booking_page(
            page,
            booking_id,
            form_id=action,
            values=form,
            errors=field_errors(exc),
            status=error_status(exc),
        )
    return page.redirect(f"/bookings/{booking_id}", DONE[action])
