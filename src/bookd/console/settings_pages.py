"""Workspace settings: name and timezone, API keys (shown once), the calendar feed URL (shown
once), admin users."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Path, Response
from pydantic import ValidationError

from bookd.calendars import service as calendars
from bookd.console import auth
from bookd.console.web import ConsoleRoute, Page, SignedIn
from bookd.kit.errors import BookdError, Conflict
from bookd.kit.http import public_base
from bookd.kit.pages import error_status, field_errors, form_data, parse
from bookd.workspaces import service as workspaces
from bookd.workspaces.schemas import ApiKeyCreate, WorkspaceUpdate

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# The timezone field suggests the IANA names of places (not the legacy aliases such as "Cuba"
# or "EST5EDT", which the API still takes); the browser filters them as the admin types.
REGIONS = (
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian",
    "Pacific",
)  # fmt: skip
TIMEZONES = ["UTC", *sorted(z for z in available_timezones() if z.split("/")[0] in REGIONS)]


async def _settings_page(
    page: Page,
    *,
    form_id: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    new_key: str | None = None,
    new_password: tuple[str, str] | None = None,
    new_feed_url: str | None = None,
) -> Response:
    forms = {form_id: {"values": values or {}, "errors": errors or {}}} if form_id else {}
    return page.render(
        "settings.html",
        status=status,
        title="Settings",
        keys=await workspaces.list_api_keys(page.session, page.workspace_id),
        users=await auth.list_users(page.session, page.workspace_id),
        forms=forms,
        new_key=new_key,
        new_password=new_password,
        feed=await calendars.active_feed(page.session, page.workspace_id),
        new_feed_url=new_feed_url,
        timezones=TIMEZONES,
    )


@router.get("/settings")
async def settings(page: SignedIn) -> Response:
    return await _settings_page(page)


@router.post("/settings")
async def settings_update(page: SignedIn) -> Response:
    try:
        data = parse(WorkspaceUpdate, form_data(page.form, ("name", "timezone")))
        await workspaces.update_workspace(page.session, page.workspace_id, data)
    except (ValidationError, BookdError) as exc:
        await page.refused()
        return await _settings_page(
            page,
            form_id="workspace",
            values=page.form,
            errors=field_errors(exc),
            status=error_status(exc),
        )
    return page.redirect("/settings", "Workspace settings saved.")


@router.post("/settings/api-keys")
async def api_key_create(page: SignedIn) -> Response:
    try:
        data = parse(ApiKeyCreate, form_data(page.form, ("name",)))
    except ValidationError as exc:
        return await _settings_page(
            page, form_id="key", values=page.form, errors=field_errors(exc), status=422
        )
    issued = await workspaces.issue_api_key(
        page.session, page.workspace_id, page.now, name=data.name
    )
    # Shown in this answer only: it is stored hashed.
    return await _settings_page(page, new_key=issued.key, status=201)


@router.post("/settings/api-keys/{key_id}/revoke")
async def api_key_revoke(page: SignedIn, key_id: ObjectId) -> Response:
    await workspaces.revoke_api_key(page.session, key_id, page.now, workspace_id=page.workspace_id)
    return page.redirect("/settings#api-keys", f"API key {key_id} revoked.")


@router.post("/settings/calendar-feed")
async def feed_issue(page: SignedIn) -> Response:
    issued = await calendars.issue_feed(page.session, page.workspace_id, page.now)
    url = public_base(page.request) + calendars.feed_path(issued.token)
    # Shown in this answer only: the token is stored hashed.
    return await _settings_page(page, new_feed_url=url, status=201)


@router.post("/settings/calendar-feed/revoke")
async def feed_revoke(page: SignedIn) -> Response:
    await calendars.revoke_feed(page.session, page.workspace_id, page.now)
    return page.redirect("/settings#calendar-feed", "Calendar feed URL revoked.")


@router.post("/settings/users")
async def user_create(page: SignedIn) -> Response:
    data = form_data(page.form, ("email", "password"))
    generated = not data.get("password")
    if generated:
        data["password"] = auth.generate_password()
    try:
        user = await auth.create_user(
            page.session, page.workspace_id, parse(auth.AdminUserCreate, data), page.now
        )
    except (ValidationError, BookdError) as exc:
        await page.refused()
        values = {"email": page.form.get("email", "")}
        return await _settings_page(
            page, form_id="user", values=values, errors=field_errors(exc), status=error_status(exc)
        )
    if generated:
        return await _settings_page(page, new_password=(user.email, data["password"]), status=201)
    return page.redirect("/settings#users", f"{user.email} can sign in now.")


@router.post("/settings/users/{user_id}/delete")
async def user_delete(page: SignedIn, user_id: ObjectId) -> Response:
    if user_id == page.current.user.id:
        raise Conflict("you cannot remove yourself: another admin can")
    await auth.delete_user(page.session, page.workspace_id, user_id)
    return page.redirect("/settings#users", "Admin user removed.")
