"""The seed's action API: `POST /v1/actions/<action>`, one typed operation per action, a thin
adapter onto the same services as REST.

A booking action that names a `bot_user_ns` acts only on that bot user's bookings (404 otherwise),
so a chatbot flow cannot touch another contact's booking by id.

A customer token may call the actions that are not `STAFF_ONLY`, with the same limits as through
REST: the services keep it to its own bot user.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Body
from pydantic import BaseModel, ValidationError

from bookd.actions.schemas import (
    BookingParams,
    CancelParams,
    CreateParams,
    ListBookingsParams,
    NoParams,
    RatingParams,
    RescheduleParams,
    ServiceParams,
    SlotsParams,
)
from bookd.analytics import service as analytics
from bookd.analytics.schemas import AnalyticsQuery
from bookd.bookings import queries, slots
from bookd.bookings import service as bookings
from bookd.bookings.domain import Action
from bookd.bookings.endpoints import Ctx, StaffCtx
from bookd.bookings.schemas import BookingCreate, BookingFilters, MessageOut, RescheduleBody
from bookd.catalog import service as catalog
from bookd.catalog.schemas import ServiceOut, TemplateOut
from bookd.hosts import service as hosts
from bookd.hosts.schemas import HostPublic
from bookd.kit.errors import NotFound
from bookd.kit.pagination import INT32_MAX, decode_cursor, next_cursor
from bookd.kit.web import UnitOfWorkRoute, errors, invalid

router = APIRouter(prefix="/v1/actions", tags=["actions"], route_class=UnitOfWorkRoute)


class ActionName(StrEnum):
    list_booking_services = "list_booking_services"
    get_booking_service = "get_booking_service"
    list_booking_service_reminders = "list_booking_service_reminders"
    list_booking_service_followups = "list_booking_service_followups"
    list_bookings = "list_bookings"
    get_booking = "get_booking"
    create_booking = "create_booking"
    confirm_booking = "confirm_booking"
    reschedule_booking = "reschedule_booking"
    cancel_booking = "cancel_booking"
    mark_booking_completed = "mark_booking_completed"
    mark_booking_no_show = "mark_booking_no_show"
    update_booking_rating = "update_booking_rating"
    list_available_slots = "list_available_slots"
    list_hosts = "list_hosts"
    analytics = "analytics"


class ActionResult(BaseModel):
    data: Any
    next_cursor: str | None = None


Handler = Callable[[bookings.Context, Any], Awaitable[Any]]


async def _list_services(ctx: bookings.Context, _p: NoParams) -> Any:
    rows = await catalog.list_services(
        ctx.session, ctx.workspace.id, limit=catalog.MAX_SERVICES, customer=ctx.customer
    )
    return [ServiceOut.model_validate(s).model_dump(mode="json") for s in rows]


async def _get_service(ctx: bookings.Context, p: ServiceParams) -> Any:
    service = await catalog.get_service(
        ctx.session, ctx.workspace.id, p.service_uid, customer=ctx.customer
    )
    return ServiceOut.model_validate(service).model_dump(mode="json")


def _templates(kind: catalog.TemplateKind) -> Handler:
    async def handler(ctx: bookings.Context, p: ServiceParams) -> Any:
        service = await catalog.get_service(ctx.session, ctx.workspace.id, p.service_uid)
        rows = await catalog.list_templates(ctx.session, service, kind)
        return [TemplateOut.model_validate(t).model_dump(mode="json") for t in rows]

    return handler


async def _list_bookings(ctx: bookings.Context, p: ListBookingsParams) -> ActionResult:
    filters = BookingFilters(bot_user_ns=p.bot_user_ns, service_uid=p.service_uid, status=p.status)
    rows = await queries.list_bookings(
        ctx, filters, limit=p.limit + 1, after_id=decode_cursor(p.cursor, max_id=INT32_MAX)
    )
    return ActionResult(
        data=[r.out().model_dump(mode="json") for r in rows[: p.limit]],
        next_cursor=next_cursor([r.booking.id for r in rows], p.limit),
    )


async def _owned(ctx: bookings.Context, p: BookingParams) -> bookings.Loaded:
    loaded = await bookings.load(ctx, p.booking_id)
    if p.bot_user_ns is not None and loaded.bot_user.ns != p.bot_user_ns:
        raise NotFound(f"no booking {p.booking_id} for bot user {p.bot_user_ns!r}")
    return loaded


async def _get_booking(ctx: bookings.Context, p: BookingParams) -> Any:
    loaded = await _owned(ctx, p)
    reminders = await queries.list_messages(ctx, p.booking_id, bookings.REMINDER)
    followups = await queries.list_messages(ctx, p.booking_id, bookings.FOLLOWUP)
    return loaded.out().model_dump(mode="json") | {
        "reminders": [MessageOut.of(m).model_dump(mode="json") for m in reminders],
        "followups": [MessageOut.of(m).model_dump(mode="json") for m in followups],
    }


async def _create(ctx: bookings.Context, p: CreateParams) -> Any:
    body = BookingCreate(
        service_uid=p.service_uid,
        bot_user_ns=p.bot_user_ns,
        start_time=p.start_time,
        duration=p.duration,
        status=p.pending_or_confirmed,
        location=p.location,
        source=p.source,
        metadata=p.metadata,
        notes=p.notes,
    )
    return (await bookings.create_booking(ctx, body)).out().model_dump(mode="json")


def _simple(action: Action) -> Handler:
    async def handler(ctx: bookings.Context, p: BookingParams) -> Any:
        await _owned(ctx, p)
        reason = p.cancel_reason if isinstance(p, CancelParams) else None
        return (
            (await bookings.act(ctx, p.booking_id, action, reason=reason))
            .out()
            .model_dump(mode="json")
        )

    return handler


async def _reschedule(ctx: bookings.Context, p: RescheduleParams) -> Any:
    await _owned(ctx, p)
    body = RescheduleBody(
        start_time=p.start_time,
        duration=p.duration,
        status=p.pending_or_confirmed,
        reason=p.reschedule_reason,
    )
    return (await bookings.reschedule(ctx, p.booking_id, body)).out().model_dump(mode="json")


async def _rate(ctx: bookings.Context, p: RatingParams) -> Any:
    await _owned(ctx, p)
    return (await bookings.rate(ctx, p.booking_id, p.rating)).out().model_dump(mode="json")


async def _slots(ctx: bookings.Context, p: SlotsParams) -> Any:
    found = await slots.list_slots(
        ctx.session, ctx.workspace, p.service_uid, p, ctx.now, customer=ctx.customer
    )
    return [slot.model_dump(mode="json") for slot in found.data]


async def _list_hosts(ctx: bookings.Context, _p: NoParams) -> Any:
    """The workspace's hosts; to a customer token the active ones, uid, name and kind."""
    customer = ctx.customer is not None
    rows = await hosts.list_hosts(
        ctx.session, ctx.workspace.id, limit=hosts.MAX_HOSTS, active_only=customer
    )
    if customer:
        return [HostPublic.model_validate(h).model_dump(mode="json") for h in rows]
    return [hosts.host_out(h).model_dump(mode="json") for h in rows]


async def _analytics(ctx: bookings.Context, p: AnalyticsQuery) -> Any:
    out = await analytics.report(ctx.session, ctx.workspace, p, ctx.now)
    return out.model_dump(mode="json", by_alias=True)


ACTIONS: dict[ActionName, tuple[type[BaseModel], Handler]] = {
    ActionName.list_booking_services: (NoParams, _list_services),
    ActionName.get_booking_service: (ServiceParams, _get_service),
    ActionName.list_booking_service_reminders: (ServiceParams, _templates("reminder")),
    ActionName.list_booking_service_followups: (ServiceParams, _templates("followup")),
    ActionName.list_bookings: (ListBookingsParams, _list_bookings),
    ActionName.get_booking: (BookingParams, _get_booking),
    ActionName.create_booking: (CreateParams, _create),
    ActionName.confirm_booking: (BookingParams, _simple(Action.CONFIRM)),
    ActionName.reschedule_booking: (RescheduleParams, _reschedule),
    ActionName.cancel_booking: (CancelParams, _simple(Action.CANCEL)),
    ActionName.mark_booking_completed: (BookingParams, _simple(Action.COMPLETE)),
    ActionName.mark_booking_no_show: (BookingParams, _simple(Action.NO_SHOW)),
    ActionName.update_booking_rating: (RatingParams, _rate),
    ActionName.list_available_slots: (SlotsParams, _slots),
    ActionName.list_hosts: (NoParams, _list_hosts),
    ActionName.analytics: (AnalyticsQuery, _analytics),
}

# The actions a customer token may not call (403 before the body, whatever it names): a service's
# reminder and follow-up texts, the booking actions that are not a customer's
# (`domain.CUSTOMER_ACTIONS`, which the booking service holds to as well), and the analytics.
STAFF_ONLY = frozenset(
    {
        ActionName.list_booking_service_reminders,
        ActionName.list_booking_service_followups,
        ActionName.mark_booking_completed,
        ActionName.mark_booking_no_show,
        ActionName.analytics,
    }
)


def parse_params(name: ActionName, params: dict[str, Any]) -> BaseModel:
    """The action's parameters read from `params`, or 422 naming each field that is not valid."""
    model, _handler = ACTIONS[name]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise invalid(exc.errors()) from None


async def perform(name: ActionName, ctx: bookings.Context, params: BaseModel) -> ActionResult:
    """The action `name` with its parameters, for whoever `ctx` names: the one path of the action
    API and of the MCP tools. Whether the caller may use it at all (`STAFF_ONLY`) is the edge's
    check, made before the parameters are read."""
    _model, handler = ACTIONS[name]
    result = await handler(ctx, params)
    return result if isinstance(result, ActionResult) else ActionResult(data=result)


def _operation(name: ActionName, model: type[BaseModel]) -> None:
    """`POST /v1/actions/<name>`, its body typed by the action's parameters (`model`) in OpenAPI;
    no body at all stands for `{}`."""

    async def endpoint(ctx: bookings.Context, params: BaseModel | None = None) -> ActionResult:
        return await perform(name, ctx, params if params is not None else parse_params(name, {}))

    # The body's type is the action's own model, set here (FastAPI reads the signature).
    described = Body(description=model.__doc__ or "The action's parameters")
    body: Any = Annotated[Optional[model], described]  # noqa: UP045
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "ctx",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=StaffCtx if name in STAFF_ONLY else Ctx,
            ),
            inspect.Parameter(
                "params", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=body, default=None
            ),
        ],
        return_annotation=ActionResult,
    )
    endpoint.__name__ = name.value
    router.post(
        f"/{name.value}", response_model=ActionResult, responses=errors(404, 409), name=name.value
    )(endpoint)


for _name, (_model, _) in ACTIONS.items():
    _operation(_name, _model)
