"""Booking services, their reminders and follow-ups, and the schedule preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import TypeAdapter, ValidationError

from bookd.availability import service as availability
from bookd.availability.schemas import WEEKDAYS, AvailabilityIn
from bookd.catalog import service as catalog
from bookd.catalog.schemas import (
    ServiceCreate,
    ServiceUpdate,
    TemplateCreate,
    TemplateKind,
    TemplateUpdate,
)
from bookd.console import availability_form
from bookd.console.web import ConsoleRoute, SignedIn, from_local, offset_text
from bookd.kit.errors import BookdError, NotFound
from bookd.kit.pages import error_status, field_errors, form_data, parse
from bookd.kit.schemas import NO_NUL
from bookd.scheduling.schemas import PreviewStart
from bookd.scheduling.service import preview as schedule_preview

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Uid = Annotated[str, Path(max_length=50, pattern=NO_NUL)]
Plural = Annotated[str, Path(max_length=20, pattern=NO_NUL)]
Sequence = Annotated[int, Path(ge=1, le=5)]
KINDS: dict[str, TemplateKind] = {"reminders": "reminder", "followups": "followup"}
LABELS = {"reminders": "Reminder", "followups": "Follow-up"}
SERVICE_FIELDS = ("name", "service_uid", "description", "default_duration", "status")
TEMPLATE_FIELDS = ("title", "description", "days", "hours", "minutes", "status")
OFFSET = ("days", "hours", "minutes")
START_TIME: TypeAdapter[datetime] = TypeAdapter(PreviewStart)


@router.get("/services")
async def services_list(page: SignedIn) -> Response:
    services = await catalog.list_services(
        page.session, page.workspace_id, limit=catalog.MAX_SERVICES
    )
    return page.render(
        "services.html",
        title="Booking Services",
        services=services,
        limit=catalog.MAX_SERVICES,
    )


@router.get("/services/new")
async def service_new(page: SignedIn) -> Response:
    return page.render(
        "service_new.html", title="New booking service", values={"default_duration": 30}, errors={}
    )


@router.post("/services")
async def service_create(page: SignedIn) -> Response:
    data = form_data(page.form, SERVICE_FIELDS, ints=("default_duration",))
    try:
        service = await catalog.create_service(
            page.session, page.workspace_id, parse(ServiceCreate, data), page.now
        )
    except (ValidationError, BookdError) as exc:
        await page.refused()
        return page.render(
            "service_new.html",
            status=error_status(exc),
            title="New booking service",
            values=page.form,
            errors=field_errors(exc),
        )
    return page.redirect(
        f"/services/{service.service_uid}", f"Booking service {service.name!r} created."
    )


async def _service_page(
    page: SignedIn,
    uid: str,
    *,
    form_id: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    preview_at: str = "",
) -> Response:
    service, row = await availability.get_settings(page.session, page.workspace_id, uid)
    settings = availability.settings_out(service, row) if row is not None else None
    templates = {
        plural: await catalog.list_templates(page.session, service, kind)
        for plural, kind in KINDS.items()
    }
    preview = None
    preview_errors: dict[str, str] = {}
    if preview_at:
        try:
            start = _start_time(from_local(preview_at, page.tz))
            preview = await schedule_preview(
                page.session, page.workspace, service.service_uid, start, page.now
            )
        except (ValidationError, BookdError) as exc:
            preview_errors = {"start_time": next(iter(field_errors(exc).values()), "not valid")}
    forms = {form_id: {"values": values or {}, "errors": errors or {}}} if form_id else {}
    return page.render(
        "service.html",
        status=status,
        title=service.name,
        service=service,
        templates=templates,
        max_templates=catalog.MAX_TEMPLATES,
        forms=forms,
        preview=preview,
        preview_at=preview_at,
        preview_errors=preview_errors,
        settings=settings,
        weekdays=WEEKDAYS,
        availability_values=availability_form.form_values(settings),
        ranges_text=availability_form.ranges_text,
        offset_text=offset_text,
    )


async def _form_refused(
    page: SignedIn, uid: str, form_id: str, exc: ValidationError | BookdError
) -> Response:
    """The service page again, the refused form keeping what was typed, its errors by the fields."""
    await page.refused()
    return await _service_page(
        page,
        uid,
        form_id=form_id,
        values=page.form,
        errors=field_errors(exc),
        status=error_status(exc),
    )


def _start_time(value: Any) -> datetime:
    """The preview's time, read by the API's own `start_time` type for previews."""
    return START_TIME.validate_python(value)


@router.get("/services/{uid}")
async def service_page(
    page: SignedIn, uid: Uid, preview_at: Annotated[str, Query(pattern=NO_NUL)] = ""
) -> Response:
    return await _service_page(page, uid, preview_at=preview_at[:40])


@router.post("/services/{uid}")
async def service_update(page: SignedIn, uid: Uid) -> Response:
    data = form_data(
        page.form, ("name", "description", "default_duration"), ints=("default_duration",)
    )
    try:
        await catalog.update_service(
            page.session, page.workspace_id, uid, parse(ServiceUpdate, data), page.now
        )
    except (ValidationError, BookdError) as exc:
        return await _form_refused(page, uid, "service", exc)
    return page.redirect(f"/services/{uid}", "Details saved.")


@router.post("/services/{uid}/status")
async def service_status(page: SignedIn, uid: Uid) -> Response:
    service = await catalog.get_service(page.session, page.workspace_id, uid)
    status = "inactive" if service.status == "active" else "active"
    await catalog.update_service(
        page.session, page.workspace_id, uid, ServiceUpdate(status=status), page.now
    )
    done = "activated" if status == "active" else "deactivated: it takes no new bookings"
    return page.redirect(f"/services/{uid}", f"Booking service {done}.")


@router.post("/services/{uid}/delete")
async def service_delete(page: SignedIn, uid: Uid) -> Response:
    try:
        await catalog.delete_service(page.session, page.workspace_id, uid)
    except BookdError as exc:
        await page.refused()
        return await _service_page(
            page, uid, form_id="delete", errors={"form": exc.message}, status=exc.status_code
        )
    return page.redirect("/services", f"Booking service {uid!r} deleted.")


# Registered before the templates' `/services/{uid}/{plural}` routes, which would take these paths.
@router.post("/services/{uid}/availability")
async def availability_update(page: SignedIn, uid: Uid) -> Response:
    """The whole settings document from the form, checked by the API's own schema."""
    await catalog.get_service(page.session, page.workspace_id, uid)  # another's: 404 first
    try:
        data = AvailabilityIn.model_validate(availability_form.body(page.form))
        await availability.put_settings(page.session, page.workspace_id, uid, data, page.now)
    except availability_form.FormatError as exc:
        errors, status = {exc.field: exc.message}, 422
    except ValidationError as exc:
        errors, status = availability_form.errors_of(exc.errors()), 422
    except BookdError as exc:
        if exc.status_code == 404:
            raise
        errors, status = field_errors(exc), exc.status_code
    else:
        return page.redirect(f"/services/{uid}#availability", "Availability saved.")
    await page.refused()
    return await _service_page(
        page, uid, form_id="availability", values=page.form, errors=errors, status=status
    )


@router.post("/services/{uid}/availability/delete")
async def availability_delete(page: SignedIn, uid: Uid) -> Response:
    await availability.delete_settings(page.session, page.workspace_id, uid)
    notice = "Availability settings removed: the service takes any future time."
    return page.redirect(f"/services/{uid}#availability", notice)


def _kind(plural: str) -> TemplateKind:
    kind = KINDS.get(plural)
    if kind is None:
        raise NotFound("there is nothing at this address")
    return kind


@router.post("/services/{uid}/{plural}")
async def template_create(page: SignedIn, uid: Uid, plural: Plural) -> Response:
    kind = _kind(plural)
    data = form_data(page.form, TEMPLATE_FIELDS, ints=OFFSET, optional=OFFSET)
    try:
        await catalog.create_template(
            page.session, page.workspace_id, uid, kind, parse(TemplateCreate, data), page.now
        )
    except (ValidationError, BookdError) as exc:
        return await _form_refused(page, uid, f"{plural}-new", exc)
    return page.redirect(f"/services/{uid}#{plural}", f"{LABELS[plural]} added.")


@router.post("/services/{uid}/{plural}/{sequence}")
async def template_update(page: SignedIn, uid: Uid, plural: Plural, sequence: Sequence) -> Response:
    kind = _kind(plural)
    data = form_data(page.form, TEMPLATE_FIELDS, ints=OFFSET, optional=OFFSET)
    for name in OFFSET:
        data.setdefault(name, 0)  # an emptied offset field means 0, as when adding
    try:
        await catalog.update_template(
            page.session,
            page.workspace_id,
            uid,
            kind,
            sequence,
            parse(TemplateUpdate, data),
            page.now,
        )
    except (ValidationError, BookdError) as exc:
        return await _form_refused(page, uid, f"{plural}-{sequence}", exc)
    return page.redirect(f"/services/{uid}#{plural}", f"{LABELS[plural]} {sequence} saved.")


@router.post("/services/{uid}/{plural}/{sequence}/status")
async def template_status(page: SignedIn, uid: Uid, plural: Plural, sequence: Sequence) -> Response:
    kind = _kind(plural)
    service = await catalog.get_service(page.session, page.workspace_id, uid)
    template = await catalog.get_template(page.session, service, kind, sequence)
    status = "inactive" if template.status == "active" else "active"
    await catalog.update_template(
        page.session,
        page.workspace_id,
        uid,
        kind,
        sequence,
        TemplateUpdate(status=status),
        page.now,
    )
    done = "activated" if status == "active" else "deactivated"
    return page.redirect(f"/services/{uid}#{plural}", f"{LABELS[plural]} {sequence} {done}.")


@router.post("/services/{uid}/{plural}/{sequence}/delete")
async def template_delete(page: SignedIn, uid: Uid, plural: Plural, sequence: Sequence) -> Response:
    kind = _kind(plural)
    await catalog.delete_template(page.session, page.workspace_id, uid, kind, sequence)
    return page.redirect(f"/services/{uid}#{plural}", f"{LABELS[plural]} {sequence} removed.")
