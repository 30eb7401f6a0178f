"""Triggers: create (the secret shown once), edit, pause, a test event, the delivery log with
every attempt, and retrying a delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from bookd.catalog import service as catalog
from bookd.console.web import ConsoleRoute, Page, SignedIn
from bookd.events.types import EventType
from bookd.kit.errors import BookdError, NotFound
from bookd.kit.pages import error_status, field_errors, form_data, parse
from bookd.webhooks import service as webhooks
from bookd.webhooks.guard import Guard
from bookd.webhooks.schemas import ALL, TriggerCreate, TriggerOut, TriggerUpdate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

TriggerId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]
EVENT_TYPES = [e.value for e in EventType]
DELIVERIES_SHOWN = 50


def _guard(request: Request) -> Guard:
    settings = request.app.state.settings
    return Guard.from_setting(settings.webhook_allow_private, settings.webhook_allow_hosts)


def _body(page: Page) -> dict[str, Any]:
    """The trigger form as the API's body: event types and services are checkboxes."""
    data = form_data(page.form, ("name", "url", "status"))
    types = page.lists.get("event_types", [])
    data["event_types"] = [ALL] if not types or ALL in types else types
    uids = page.lists.get("service_uids", [])
    data["service_uids"] = uids or None
    return data


async def _form_context(page: Page) -> dict[str, Any]:
    services = await catalog.list_services(
        page.session, page.workspace_id, limit=catalog.MAX_SERVICES
    )
    return {"event_types": EVENT_TYPES, "services": services}


@router.get("/triggers")
async def triggers_list(page: SignedIn) -> Response:
    triggers = await webhooks.list_triggers(
        page.session, page.workspace_id, limit=200, after_id=None
    )
    health = await webhooks.trigger_health(page.session, [t.id for t in triggers])
    return page.render(
        "triggers.html",
        title="Triggers",
        triggers=[TriggerOut.of(t) for t in triggers],
        health=health,
    )


@router.get("/triggers/new")
async def trigger_new(page: SignedIn) -> Response:
    return page.render(
        "trigger_new.html",
        title="New trigger",
        values={"event_types": [ALL]},
        errors={},
        **await _form_context(page),
    )


@router.post("/triggers")
async def trigger_create(page: SignedIn, request: Request) -> Response:
    data = _body(page)
    try:
        trigger = await webhooks.create_trigger(
            page.session, page.workspace_id, parse(TriggerCreate, data), _guard(request), page.now
        )
    except (ValidationError, BookdError) as exc:
        await page.refused()
        return page.render(
            "trigger_new.html",
            status=error_status(exc),
            title="New trigger",
            values={**page.form, **data},
            errors=field_errors(exc),
            **await _form_context(page),
        )
    # Shown in this answer only, never again: no redirect to a page that could show it.
    return await _trigger_page(page, trigger.id, secret=trigger.secret, status=201)


async def _trigger_page(
    page: Page,
    trigger_id: int,
    *,
    secret: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    trigger = await webhooks.get_trigger(page.session, page.workspace_id, trigger_id)
    latest = await webhooks.latest_deliveries(
        page.session, page.workspace_id, trigger.id, limit=DELIVERIES_SHOWN
    )
    deliveries = await webhooks.deliveries_out(page.session, latest)
    out = TriggerOut.of(trigger)
    return page.render(
        "trigger.html",
        status=status,
        title=trigger.name,
        trigger=out,
        secret=secret,
        deliveries=deliveries,
        shown=DELIVERIES_SHOWN,
        values=values or {},
        errors=errors or {},
        **await _form_context(page),
    )


@router.get("/triggers/{trigger_id}")
async def trigger_page(page: SignedIn, trigger_id: TriggerId) -> Response:
    return await _trigger_page(page, trigger_id)


@router.post("/triggers/{trigger_id}")
async def trigger_update(page: SignedIn, request: Request, trigger_id: TriggerId) -> Response:
    data = _body(page)
    try:
        await webhooks.update_trigger(
            page.session,
            page.workspace_id,
            trigger_id,
            parse(TriggerUpdate, data),
            _guard(request),
            page.now,
        )
    except (ValidationError, BookdError) as exc:
        if isinstance(exc, BookdError) and exc.status_code == 404:
            raise
        await page.refused()
        return await _trigger_page(
            page,
            trigger_id,
            values={**page.form, **data},
            errors=field_errors(exc),
            status=error_status(exc),
        )
    return page.redirect(f"/triggers/{trigger_id}", "Trigger saved.")


@router.post("/triggers/{trigger_id}/status")
async def trigger_status(page: SignedIn, request: Request, trigger_id: TriggerId) -> Response:
    trigger = await webhooks.get_trigger(page.session, page.workspace_id, trigger_id)
    status = "paused" if trigger.status == "active" else "active"
    await webhooks.update_trigger(
        page.session,
        page.workspace_id,
        trigger_id,
        TriggerUpdate(status=status),
        _guard(request),
        page.now,
    )
    done = "resumed" if status == "active" else "paused: it is sent no events until it is resumed"
    return page.redirect(f"/triggers/{trigger_id}", f"Trigger {done}.")


@router.post("/triggers/{trigger_id}/test")
async def trigger_test(page: SignedIn, trigger_id: TriggerId) -> Response:
    await webhooks.send_test_event(page.session, page.workspace_id, trigger_id, page.now)
    return page.redirect(f"/triggers/{trigger_id}#deliveries", "Test event queued.")


@router.post("/triggers/{trigger_id}/delete")
async def trigger_delete(page: SignedIn, trigger_id: TriggerId) -> Response:
    await webhooks.delete_trigger(page.session, page.workspace_id, trigger_id)
    return page.redirect("/triggers", "Trigger deleted.")


@router.post("/triggers/{trigger_id}/deliveries/{delivery_id}/retry")
async def delivery_retry(
    page: SignedIn, trigger_id: TriggerId, delivery_id: DeliveryId
) -> Response:
    await webhooks.get_trigger(page.session, page.workspace_id, trigger_id)
    delivery, _, _ = await webhooks.get_delivery(page.session, page.workspace_id, delivery_id)
    if delivery.trigger_id != trigger_id:
        raise NotFound(f"no delivery {delivery_id} of trigger {trigger_id}")
    await webhooks.retry_delivery(page.session, page.workspace_id, delivery_id, page.now)
    notice = f"Delivery {delivery_id} queued to be sent once more."
    return page.redirect(f"/triggers/{trigger_id}#deliveries", notice)
