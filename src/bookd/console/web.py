"""The console's plumbing: the signed-in admin, its CSRF token, templates, times in the
workspace's zone and the console's error page. Pages live in the `*_pages` modules beside this
one; what every set of pages shares (one transaction per request, forms, cookies, headers) is
`kit.pages`'."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from bookd.bookings import service as bookings
from bookd.console import auth
from bookd.kit.db import AsyncSession
from bookd.kit.pages import (
    CSRF_FIELD,
    CsrfRefused,
    PageRoute,
    html_page,
    read_form,
    read_lists,
    redirect_with_notice,
    same_token,
    templates,
)
from bookd.workspaces.models import Workspace

SESSION_COOKIE = "bookd_session"
# Before sign-in there is no session to hold a CSRF token: the sign-in form's token is
# double-submitted, as this cookie and as a form field.
SIGN_IN_COOKIE = "bookd_sign_in"

TEMPLATES = templates(Path(__file__).parent / "templates")


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class ConsoleRoute(PageRoute):
    """A console request: one transaction (`kit.pages.PageRoute`); a refusal is the console's
    error page, and a request without a valid session goes to the sign-in page."""

    csrf_refusal = "The form expired or did not come from this console: reload it."

    def refusal_page(self, status: int, message: str) -> Response:
        return error_page(status, message)

    def answer_to(self, request: Request, exc: Exception) -> Response | None:
        if not isinstance(exc, SignInRequired):
            return None
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)


def error_page(status: int, message: str) -> HTMLResponse:
    title = {403: "Refused", 404: "Not found", 409: "Not possible"}.get(status, "Error")
    html = render("error.html", page=None, title=title, message=message, status=status)
    return HTMLResponse(html, status_code=status)


def render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)


# --- time in the workspace's zone --------------------------------------------------------------


def local(value: datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return "—"
    return value.astimezone(tz).strftime("%a %d %b %Y %H:%M %Z")


def local_input(value: datetime | None, tz: ZoneInfo) -> str:
    """The value of an `<input type="datetime-local">`."""
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def from_local(value: str, tz: ZoneInfo) -> Any:
    """A form's wall-clock time, read in the workspace's zone. What does not parse is passed on
    as written, so that the API's own schema refuses it with its own message."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def offset_text(template: Any) -> str:
    """A reminder's or follow-up's offset as people say it: `1 day 2 h`, `30 min`, `0 min`."""
    days, hours, minutes = template.days, template.hours, template.minutes
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# --- the signed-in admin -----------------------------------------------------------------------


@dataclass
class Page:
    """A signed-in request: who, where, when, and its form (for a POST, already CSRF-checked)."""

    request: Request
    session: AsyncSession
    current: auth.Current
    now: datetime
    form: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    """Every value of fields that can repeat (checkboxes)."""

    @property
    def workspace(self) -> Workspace:
        return self.current.workspace

    @property
    def workspace_id(self) -> int:
        return self.current.workspace.id

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.workspace.timezone)

    @property
    def actor(self) -> str:
        return f"admin_user:{self.current.user.id}"

    def context(self) -> bookings.Context:
        return bookings.Context(
            session=self.session, workspace=self.workspace, actor=self.actor, now=self.now
        )

    async def refused(self) -> None:
        """Undo what a refused form tried (its savepoint, `kit.pages.PageRoute`); the page is then
        read afresh."""
        await self.request.state.attempt.rollback()
        self.current = await _current(self.request, self.session, self.now)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        tz = self.tz

        def html(notice: str) -> str:
            return render(
                template,
                page=self,
                notice=notice,
                csrf=self.current.session.csrf_token,
                tz_name=self.workspace.timezone,
                local=lambda v: local(v, tz),
                local_input=lambda v: local_input(v, tz),
                path=self.request.url.path,
                **context,
            )

        return html_page(self.request, html, status)

    def redirect(self, url: str, notice: str) -> RedirectResponse:
        """After an action: to `url`, which then says `notice` (what was done) once."""
        return redirect_with_notice(self.request, url, notice)


async def _current(request: Request, session: AsyncSession, now: datetime) -> auth.Current:
    token = request.cookies.get(SESSION_COOKIE)
    current = await auth.current(session, token, now) if token else None
    if current is None:
        raise SignInRequired()
    return current


async def get_page(request: Request) -> Page:
    session: AsyncSession = request.state.session
    now: datetime = request.app.state.clock()
    current = await _current(request, session, now)
    form: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    if request.method == "POST":
        form = await read_form(request)
        if not same_token(form.get(CSRF_FIELD), current.session.csrf_token):
            raise CsrfRefused()
        lists = await read_lists(request)
    return Page(request=request, session=session, current=current, now=now, form=form, lists=lists)


SignedIn = Annotated[Page, Depends(get_page)]


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)
