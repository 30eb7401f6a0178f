"""REST: /v1/bookings, their actions, reminders, follow-ups and logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from bookd.kit.errors import BookdError, ValidationFailed
from bookd.kit.pagination import Page, PageParams, next_cursor, page_params, page_params_32
from bookd.kit.web import (
    CurrentCaller,
    Now,
    Session,
    UnitOfWorkRoute,
    bearer_token,
    errors,
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


@router.post("", status_code=201, response_model=BookingOut, responses=errors(404, 409))
async def create_booking(
    body: BookingCreate, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response | BookingOut:
    if idempotency_key is not None:
        fingerprint = bookings.request_fingerprint(body)
        stored = await bookings.claim_idempotency_key(ctx, idempotency_key, fingerprint)
        if stored is not None:
            return Response(
                stored.response_body, status_code=stored.status_code, media_type="application/json"
            )
    out = (await bookings.create_booking(ctx, body)).out()
    if idempotency_key is not None:
        await bookings.remember_answer(ctx, idempotency_key, 201, out.model_dump_json())
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


# --- the creation's fast lane ------------------------------------------------------------------

# Larger bodies go the documented way (a valid one is far smaller: its longest field, `metadata`,
# is 5,000 characters).
LANE_MAX_BODY = 64 * 1024


class CreationLane:
    """ASGI middleware: `POST /v1/bookings` in its common shape, without FastAPI's routing and
    dependency solving and without the ORM, which together cost several times the creation's
    own work (`bookings.create_direct`: one read and one write on the driver connection).

    It answers only a request it can answer exactly as `create_booking` above would: a JSON body
    that `BookingCreate` accepts, a bearer key, no Idempotency-Key, a booking it can create.
    Anything else (bad input, a bad key, a refusal, a service with availability settings) is
    handed to the app as it came, body included, having written nothing, and answered there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._may_take(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        response = None if body is None else await self._create(scope, body)
        if response is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        await response(scope, receive, send)

    @staticmethod
    def _may_take(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/bookings":
            return False
        headers = Headers(scope=scope)
        return (
            headers.get("content-type") == "application/json"
            and "idempotency-key" not in headers
            and "authorization" in headers
        )

    async def _create(self, scope: Scope, body: bytes) -> Response | None:
        app = scope["app"]
        try:
            parsed = orjson.loads(body)
            data = BookingCreate.model_validate(parsed)
            key_hash = hash_key(bearer_token(Request(scope)))
        except (orjson.JSONDecodeError, ValidationError, BookdError):
            return None
        db: Database = app.state.db
        now: datetime = app.state.clock()
        try:
            created = await bookings.create_direct(db, key_hash=key_hash, data=data, now=now)
        except BookdError:
            return None  # refused before anything was written; the app answers it
        if created is None:
            return None
        response = Response(created.body, status_code=201, media_type="application/json")
        if key_use_due(created.key_last_used_at, now):
            response.background = BackgroundTask(record_key_use, db, created.api_key_id, now)
        return response


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its body (None: too large, or the client left)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > LANE_MAX_BODY:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
