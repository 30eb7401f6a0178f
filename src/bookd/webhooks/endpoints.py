"""REST: /v1/triggers and /v1/deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from bookd.events.types import EventType
from bookd.kit.pagination import Page, Paging, Paging32, next_cursor, paged
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.webhooks import service as webhooks
from bookd.webhooks.guard import Guard
from bookd.webhooks.schemas import (
    DeliveryOut,
    Recovered,
    TriggerCreate,
    TriggerOut,
    TriggerRecover,
    TriggerUpdate,
    TriggerWithSecret,
)
from bookd.workspaces.auth import CurrentCaller

router = APIRouter(tags=["triggers"], route_class=UnitOfWorkRoute)

TriggerId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]


def get_guard(request: Request) -> Guard:
    settings = request.app.state.settings
    return Guard.from_setting(settings.webhook_allow_private, settings.webhook_allow_hosts)


WebhookGuard = Annotated[Guard, Depends(get_guard)]


@router.post("/v1/triggers", status_code=201, response_model=TriggerWithSecret, responses=errors())
async def create_trigger(
    body: TriggerCreate, caller: CurrentCaller, session: Session, now: Now, guard: WebhookGuard
) -> TriggerWithSecret:
    trigger = await webhooks.create_trigger(session, caller.workspace_id, body, guard, now)
    return TriggerWithSecret(**TriggerOut.of(trigger).model_dump(), secret=trigger.secret)


@router.get("/v1/triggers", response_model=Page[TriggerOut], responses=errors())
async def list_triggers(caller: CurrentCaller, session: Session, p: Paging32) -> Page[TriggerOut]:
    rows = await webhooks.list_triggers(session, caller.workspace_id, **p.fetch())
    return paged(rows, p.limit, TriggerOut.of, key=lambda t: t.id)


@router.get("/v1/triggers/{trigger_id}", response_model=TriggerOut, responses=errors(404))
async def get_trigger(trigger_id: TriggerId, caller: CurrentCaller, session: Session) -> TriggerOut:
    return TriggerOut.of(await webhooks.get_trigger(session, caller.workspace_id, trigger_id))


@router.patch("/v1/triggers/{trigger_id}", response_model=TriggerOut, responses=errors(404))
async def update_trigger(
    trigger_id: TriggerId,
    body: TriggerUpdate,
    caller: CurrentCaller,
    session: Session,
    now: Now,
    guard: WebhookGuard,
) -> TriggerOut:
    return TriggerOut.of(
        await webhooks.update_trigger(session, caller.workspace_id, trigger_id, body, guard, now)
    )


@router.delete("/v1/triggers/{trigger_id}", status_code=204, responses=errors(404))
async def delete_trigger(
    trigger_id: TriggerId, caller: CurrentCaller, session: Session
) -> Response:
    await webhooks.delete_trigger(session, caller.workspace_id, trigger_id)
    return Response(status_code=204)


@router.post(
    "/v1/triggers/{trigger_id}/rotate-secret",
    response_model=TriggerWithSecret,
    responses=errors(404),
    summary="A new secret; the previous one keeps signing for 24 hours",
)
async def rotate_secret(
    trigger_id: TriggerId, caller: CurrentCaller, session: Session, now: Now
) -> TriggerWithSecret:
    trigger = await webhooks.rotate_secret(session, caller.workspace_id, trigger_id, now)
    return TriggerWithSecret(**TriggerOut.of(trigger).model_dump(), secret=trigger.secret)


@router.post(
    "/v1/triggers/{trigger_id}/recover",
    response_model=Recovered,
    responses=errors(404),
    summary="After an outage: send every delivery that failed since a time once more, oldest first",
)
async def recover_trigger(
    trigger_id: TriggerId, body: TriggerRecover, caller: CurrentCaller, session: Session, now: Now
) -> Recovered:
    requeued = await webhooks.recover(session, caller.workspace_id, trigger_id, body.since, now)
    return Recovered(requeued=requeued)


@router.post(
    "/v1/triggers/{trigger_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    responses=errors(404),
    summary="Send this trigger a TRIGGER_TEST event",
)
async def test_trigger(
    trigger_id: TriggerId, caller: CurrentCaller, session: Session, now: Now
) -> DeliveryOut:
    delivery = await webhooks.send_test_event(session, caller.workspace_id, trigger_id, now)
    _, event_id, event_type = await webhooks.get_delivery(session, caller.workspace_id, delivery.id)
    return (await webhooks.deliveries_out(session, [(delivery, event_id, event_type)]))[0]


@router.get(
    "/v1/triggers/{trigger_id}/deliveries", response_model=Page[DeliveryOut], responses=errors(404)
)
async def list_deliveries(
    trigger_id: TriggerId,
    caller: CurrentCaller,
    session: Session,
    page: Paging,
    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
    event_type: Annotated[EventType | None, Query()] = None,
) -> Page[DeliveryOut]:
    rows = await webhooks.list_deliveries(
        session,
        caller.workspace_id,
        trigger_id,
        status=status,
        event_type=event_type.value if event_type else None,
        limit=page.limit + 1,
        after_id=page.after_id,
    )
    return Page(
        data=await webhooks.deliveries_out(session, rows[: page.limit]),
        next_cursor=next_cursor([d.id for d, _, _ in rows], page.limit),
    )


@router.get("/v1/deliveries/{delivery_id}", response_model=DeliveryOut, responses=errors(404))
async def get_delivery(
    delivery_id: DeliveryId, caller: CurrentCaller, session: Session
) -> DeliveryOut:
    row = await webhooks.get_delivery(session, caller.workspace_id, delivery_id)
    return (await webhooks.deliveries_out(session, [row]))[0]


@router.post(
    "/v1/deliveries/{delivery_id}/retry", response_model=DeliveryOut, responses=errors(404)
)
async def retry_delivery(
    delivery_id: DeliveryId, caller: CurrentCaller, session: Session, now: Now
) -> DeliveryOut:
    row = await webhooks.retry_delivery(session, caller.workspace_id, delivery_id, now)
    return (await webhooks.deliveries_out(session, [row]))[0]
