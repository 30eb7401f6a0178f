"""REST: /v1/bookings, their actions, reminders, follow-ups and logs.

Every route here takes a customer token as well as the API key: the booking service keeps a
customer to its own bot user's bookings and to the actions that are a customer's (`Ctx`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import ValidationError

from bookd.availability.schemas import SlotQuery, SlotsOut
from bookd.bookings import idempotency, queries, slots
from bookd.bookings import service as bookings
from bookd.bookings.domain import Action
from bookd.bookings.schemas import (
    BookingCreate,
    BookingFilters,
    BookingOut,
    BookingUpdate,
    CancelBody,
    LogOut,
    MessageOut,
    RatingBody,
    RescheduleBody,
)
from bookd.catalog.endpoints import UidPath
from bookd.kit.db import AsyncSession
from bookd.kit.errors import ValidationFailed
from bookd.kit.pagination import (
    Page,
    Paging,
    Paging32,
    paged,
)
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors, validation_details
from bookd.workspaces.auth import Caller, CallerOrCustomer, CurrentCaller

router = APIRouter(prefix="/v1/bookings", tags=["bookings"], route_class=UnitOfWorkRoute)


def context_of(caller: Caller, session: AsyncSession, now: datetime) -> bookings.Context:
    return bookings.Context(
        session=session,
        workspace=caller.workspace,
        actor=caller.actor,
        now=now,
        customer=caller.customer,
    )


async def get_context(caller: CallerOrCustomer, session: Session, now: Now) -> bookings.Context:
    return context_of(caller, session, now)


async def get_staff_context(caller: CurrentCaller, session: Session, now: Now) -> bookings.Context:
    return context_of(caller, session, now)


Ctx = Annotated[bookings.Context, Depends(get_context)]
"""Who acts, staff or a customer (whom the services keep to its own bookings)."""
StaffCtx = Annotated[bookings.Context, Depends(get_staff_context)]
"""Who acts, staff only: a customer token is refused (403) before the body is read."""
BookingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def if_match_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=40,
            description="Refuse the change (409) unless the booking is at this version",
        ),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ValidationFailed.on(
            "If-Match", "invalid_version", "If-Match takes a booking version number"
        ) from None


IfMatch = Annotated[int | None, Depends(if_match_version)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a creation safely: the same key and body answer the first result",
    ),
]


async def booking_filters(
    bot_user_ns: Annotated[str | None, Query(max_length=200)] = None,
    service_uid: Annotated[str | None, Query(max_length=50)] = None,
    status: Annotated[str | None, Query()] = None,
    start_from: Annotated[
        str | None, Query(description="ISO 8601 with an offset; start_time >= this")
    ] = None,
    start_to: Annotated[
        str | None, Query(description="ISO 8601 with an offset; start_time < this")
    ] = None,
) -> BookingFilters:
    try:
        return BookingFilters.model_validate(
            {
                "bot_user_ns": bot_user_ns,
                "service_uid": service_uid,
                "status": status,
                "start_from": start_from,
                "start_to": start_to,
            }
        )
    except ValidationError as exc:
        raise ValidationFailed("the query is not valid", validation_details(exc.errors())) from None


@router.get("", response_model=Page[BookingOut], responses=errors())
async def list_bookings(
    ctx: Ctx,
    page: Paging32,
    filters: Annotated[BookingFilters, Depends(booking_filters)],
) -> Page[BookingOut]:
    rows = await queries.list_bookings(ctx, filters, limit=page.limit + 1, after_id=page.after_id)
    return paged(rows, page.limit, bookings.Loaded.out, key=lambda r: r.booking.id)


@router.post("", status_code=201, response_model=BookingOut, responses=errors(404, 409))
async def create_booking(
    body: BookingCreate, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response | BookingOut:
    if idempotency_key is not None:
        bookings.check_customer_creation(ctx, body)
        fingerprint = idempotency.request_fingerprint(body)
        stored = await idempotency.claim_idempotency_key(ctx, idempotency_key, fingerprint)
        if stored is not None:
            return Response(
                stored.response_body, status_code=stored.status_code, media_type="application/json"
            )
    out = (await bookings.create_booking(ctx, body)).out()
    if idempotency_key is not None:
        await idempotency.remember_answer(ctx, idempotency_key, 201, out.model_dump_json())
    return out


@router.get("/{booking_id}", response_model=BookingOut, responses=errors(404))
async def get_booking(booking_id: BookingId, ctx: Ctx) -> BookingOut:
    return (await bookings.load(ctx, booking_id)).out()


@router.patch("/{booking_id}", response_model=BookingOut, responses=errors(404, 409))
async def update_booking(
    booking_id: BookingId, body: BookingUpdate, ctx: Ctx, if_match: IfMatch
) -> BookingOut:
    return (await bookings.update_details(ctx, booking_id, body, if_match=if_match)).out()


@router.delete("/{booking_id}", status_code=204, responses=errors(404, 409))
async def delete_booking(booking_id: BookingId, ctx: Ctx, if_match: IfMatch) -> Response:
    await bookings.delete_booking(ctx, booking_id, if_match=if_match)
    return Response(status_code=204)


@router.post("/{booking_id}/reschedule", response_model=BookingOut, responses=errors(404, 409))
async def reschedule_booking(
    booking_id: BookingId, body: RescheduleBody, ctx: Ctx, if_match: IfMatch
) -> BookingOut:
    return (await bookings.reschedule(ctx, booking_id, body, if_match=if_match)).out()


@router.post("/{booking_id}/cancel", response_model=BookingOut, responses=errors(404, 409))
async def cancel_booking(
    booking_id: BookingId, body: CancelBody, ctx: Ctx, if_match: IfMatch
) -> BookingOut:
    return (
        await bookings.act(ctx, booking_id, Action.CANCEL, if_match=if_match, reason=body.reason)
    ).out()


@router.post("/{booking_id}/rating", response_model=BookingOut, responses=errors(404, 409))
async def rate_booking(
    booking_id: BookingId, body: RatingBody, ctx: Ctx, if_match: IfMatch
) -> BookingOut:
    return (await bookings.rate(ctx, booking_id, body.rating, if_match=if_match)).out()


def _plain_action(path: str, action: Action, name: str) -> None:
    """`POST /v1/bookings/{id}/<path>`: an action that takes no body."""

    async def endpoint(booking_id: BookingId, ctx: Ctx, if_match: IfMatch) -> BookingOut:
        return (await bookings.act(ctx, booking_id, action, if_match=if_match)).out()

    endpoint.__name__ = name
    router.post(f"/{{booking_id}}/{path}", response_model=BookingOut, responses=errors(404, 409))(
        endpoint
    )


_plain_action("confirm", Action.CONFIRM, "confirm_booking")
_plain_action("complete", Action.COMPLETE, "complete_booking")
_plain_action("no-show", Action.NO_SHOW, "mark_no_show")


def _messages(path: str, kind: str, name: str) -> None:
    """`GET /v1/bookings/{id}/<path>`: the booking's reminders or follow-ups."""

    async def endpoint(booking_id: BookingId, ctx: Ctx) -> Page[MessageOut]:
        rows = await queries.list_messages(ctx, booking_id, kind)
        return Page(data=[MessageOut.of(m) for m in rows], next_cursor=None)

    endpoint.__name__ = name
    router.get(f"/{{booking_id}}/{path}", response_model=Page[MessageOut], responses=errors(404))(
        endpoint
    )


_messages("reminders", bookings.REMINDER, "list_reminders")
_messages("followups", bookings.FOLLOWUP, "list_followups")


@router.get("/{booking_id}/logs", response_model=Page[LogOut], responses=errors(404))
async def list_logs(booking_id: BookingId, ctx: Ctx, page: Paging) -> Page[LogOut]:
    rows = await queries.list_logs(ctx, booking_id, limit=page.limit + 1, after_id=page.after_id)
    return paged(rows, page.limit, LogOut.of, key=lambda r: r.id)


# A service's free slots: its bookings taken as busy time (`bookings.slots`).
services_router = APIRouter(
    prefix="/v1/services", tags=["availability"], route_class=UnitOfWorkRoute
)


@services_router.get("/{service_uid}/slots", response_model=SlotsOut, responses=errors(404))
async def list_slots(
    service_uid: UidPath,
    caller: CallerOrCustomer,
    session: Session,
    now: Now,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="ISO 8601 time with an offset, or a date (midnight in `timezone`); "
            "default: now",
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", max_length=40, description="Like `from`; default: a week after it"),
    ] = None,
    duration: Annotated[
        int | None, Query(ge=0, le=1000, description="Minutes; default: the service's")
    ] = None,
    timezone: Annotated[
        str | None,
        Query(max_length=64, description="IANA name the slots are shown in; default: workspace's"),
    ] = None,
) -> SlotsOut:
    """Free start times in [from, to) with the capacity left at each, at most 62 days."""
    try:
        query = SlotQuery.model_validate(
            {"from": start, "to": end, "duration": duration, "timezone": timezone}
        )
    except ValidationError as exc:
        raise ValidationFailed("the query is not valid", validation_details(exc.errors())) from None
    return await slots.list_slots(
        session, caller.workspace, service_uid, query, now, customer=caller.customer
    )
