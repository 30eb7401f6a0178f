"""REST: /v1/bookings, their actions, reminders, follow-ups and logs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.background import BackgroundTask

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
from bookd.kit.db import Database
from bookd.kit.errors import ValidationFailed
from bookd.kit.pagination import Page, PageParams, next_cursor, page_params, page_params_32
from bookd.kit.web import (
    CurrentCaller,
    Now,
    Session,
    UnitOfWorkRoute,
    authenticate,
    bearer_token,
    errors,
    get_caller,
    get_now,
    hash_key,
    key_use_due,
    record_key_use,
    validation_details,
)

router = APIRouter(prefix="/v1/bookings", tags=["bookings"], route_class=UnitOfWorkRoute)


async def get_context(caller: CurrentCaller, session: Session, now: Now) -> bookings.Context:
    return bookings.Context(
        session=session, workspace=caller.workspace, actor=caller.actor, now=now
    )


Ctx = Annotated[bookings.Context, Depends(get_context)]
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
    page: Annotated[PageParams, Depends(page_params_32)],
    filters: Annotated[BookingFilters, Depends(booking_filters)],
) -> Page[BookingOut]:
    rows = await bookings.list_bookings(ctx, filters, limit=page.limit + 1, after_id=page.after_id)
    return Page(
        data=[r.out() for r in rows[: page.limit]],
        next_cursor=next_cursor([r.booking.id for r in rows], page.limit),
    )


class CreationRoute(APIRoute):
    """`POST /v1/bookings` opens its own transaction (`create_booking` below) instead of taking
    `UnitOfWorkRoute`'s session, and finds its caller in the same read as the rest of its facts.

    FastAPI validates the body before the endpoint runs; a refused body is answered 401 first if
    the API key is not valid, as every route that depends on `get_caller` does.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await authenticate(request)
                raise

        return run


async def create_booking(
    request: Request, body: BookingCreate, idempotency_key: IdempotencyKey = None
) -> Response:
    # The answer is ready JSON (`payloads.booking` is `BookingOut` dumped, as tests hold), not
    # re-validated against the response model, which stays the documented shape.
    db: Database = request.app.state.db
    now = await get_now(request)
    key_hash = hash_key(bearer_token(request))
    created = None
    if idempotency_key is None:
        created = await bookings.create_direct(db, key_hash=key_hash, data=body, now=now)
    if created is None:
        return await _create_in_session(request, body, idempotency_key, now)
    response = Response(created.body, status_code=201, media_type="application/json")
    if key_use_due(created.key_last_used_at, now):
        response.background = BackgroundTask(record_key_use, db, created.api_key_id, now)
    return response


async def _create_in_session(
    request: Request, body: BookingCreate, idempotency_key: str | None, now: datetime
) -> Response:
    """The creation through the ORM, as every other route works: with an Idempotency-Key, or for
    a service with availability settings (`bookings.create_direct` leaves those to this)."""
    db: Database = request.app.state.db
    background = BackgroundTasks()
    async with db.transaction() as session:
        caller = await get_caller(request, session, now, background)
        ctx = await get_context(caller, session, now)
        stored = None
        if idempotency_key is not None:
            fingerprint = bookings.request_fingerprint(body)
            stored = await bookings.claim_idempotency_key(ctx, idempotency_key, fingerprint)
        if stored is not None:
            status_code, text = stored.status_code, stored.response_body
        else:
            status_code, text = (
                201,
                (await bookings.create_booking(ctx, body)).out().model_dump_json(),
            )
            if idempotency_key is not None:
                await bookings.remember_answer(ctx, idempotency_key, status_code, text)
    return Response(
        text, status_code=status_code, media_type="application/json", background=background
    )


router.add_api_route(
    "",
    create_booking,
    methods=["POST"],
    status_code=201,
    response_model=BookingOut,
    responses=errors(404, 409),
    route_class_override=CreationRoute,
)


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


@router.post("/{booking_id}/confirm", response_model=BookingOut, responses=errors(404, 409))
async def confirm_booking(booking_id: BookingId, ctx: Ctx, if_match: IfMatch) -> BookingOut:
    return (await bookings.act(ctx, booking_id, Action.CONFIRM, if_match=if_match)).out()


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


@router.post("/{booking_id}/complete", response_model=BookingOut, responses=errors(404, 409))
async def complete_booking(booking_id: BookingId, ctx: Ctx, if_match: IfMatch) -> BookingOut:
    return (await bookings.act(ctx, booking_id, Action.COMPLETE, if_match=if_match)).out()


@router.post("/{booking_id}/no-show", response_model=BookingOut, responses=errors(404, 409))
async def mark_no_show(booking_id: BookingId, ctx: Ctx, if_match: IfMatch) -> BookingOut:
    return (await bookings.act(ctx, booking_id, Action.NO_SHOW, if_match=if_match)).out()


@router.post("/{booking_id}/rating", response_model=BookingOut, responses=errors(404, 409))
async def rate_booking(
    booking_id: BookingId, body: RatingBody, ctx: Ctx, if_match: IfMatch
) -> BookingOut:
    return (await bookings.rate(ctx, booking_id, body.rating, if_match=if_match)).out()


@router.get("/{booking_id}/reminders", response_model=Page[MessageOut], responses=errors(404))
async def list_reminders(booking_id: BookingId, ctx: Ctx) -> Page[MessageOut]:
    rows = await bookings.list_messages(ctx, booking_id, bookings.REMINDER)
    return Page(data=[MessageOut.of(m) for m in rows], next_cursor=None)


@router.get("/{booking_id}/followups", response_model=Page[MessageOut], responses=errors(404))
async def list_followups(booking_id: BookingId, ctx: Ctx) -> Page[MessageOut]:
    rows = await bookings.list_messages(ctx, booking_id, bookings.FOLLOWUP)
    return Page(data=[MessageOut.of(m) for m in rows], next_cursor=None)


@router.get("/{booking_id}/logs", response_model=Page[LogOut], responses=errors(404))
async def list_logs(
    booking_id: BookingId, ctx: Ctx, page: Annotated[PageParams, Depends(page_params)]
) -> Page[LogOut]:
    rows = await bookings.list_logs(ctx, booking_id, limit=page.limit + 1, after_id=page.after_id)
    return Page(
        data=[LogOut.of(r) for r in rows[: page.limit]],
        next_cursor=next_cursor([r.id for r in rows], page.limit),
    )
