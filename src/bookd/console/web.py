"""The console's plumbing: one transaction per request, the signed-in admin, CSRF, templates,
form decoding and error mapping. Pages live in the `*_pages` modules beside this one."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.bookings import service as bookings
from bookd.console import auth
from bookd.kit.db import Database
from bookd.kit.errors import BookdError
from bookd.kit.web import validation_details
from bookd.workspaces.models import Workspace

SESSION_COOKIE = "bookd_session"
# Before sign-in there is no session to hold a CSRF token: the sign-in form's token is
# double-submitted, as this cookie and as a form field.
SIGN_IN_COOKIE = "bookd_sign_in"
CSRF_FIELD = "csrf_token"
# What an action did, said once on the page it redirects to (then the cookie is cleared).
NOTICE_COOKIE = "bookd_notice"
NOTICE_FOR = timedelta(minutes=1)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

M = TypeVar("M", bound=BaseModel)


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token: refused, nothing done."""


class ConsoleRoute(APIRoute):
    """A console request is one transaction, like an API request (its body read before the
    transaction begins), with two differences: a handler that shows a refused form calls
    `Page.refused()`, which rolls back what was tried (the page is then read in a fresh
    transaction), and refusals become HTML pages instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        read_only = (self.methods or set()) <= {"GET", "HEAD"}

        async def run(request: Request) -> Response:
            db: Database = request.app.state.db
            try:
                # The whole form before the transaction: no client holds a transaction open.
                await request.body()
            except BookdError as exc:
                return error_page(exc.status_code, exc.message)
            async with db.session(read_only=read_only) as session:
                request.state.session = session
                try:
                    response = await handler(request)
                except SignInRequired:
                    await session.rollback()
                    target = request.url.path
                    if request.method == "GET" and request.url.query:
                        target += "?" + request.url.query
                    return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)
                except CsrfRefused:
                    await session.rollback()
                    return error_page(
                        403, "The form expired or did not come from this console: reload it."
                    )
                except (BookdError, RequestValidationError) as exc:
                    await session.rollback()
                    if isinstance(exc, RequestValidationError):
                        return error_page(404, "There is nothing at this address.")
                    return error_page(exc.status_code, exc.message)
                except BaseException:
                    await session.rollback()
                    raise
                await session.commit()
                return response

        return run


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


# --- forms -------------------------------------------------------------------------------------


def form_data(
    form: dict[str, str],
    fields: Iterable[str],
    *,
    ints: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> dict[str, Any]:
    """The named fields of a posted form as the API's JSON body would hold them: numbers as
    numbers (what is not a number is left as text, for the schema to refuse), empty optional
    fields left out. The schema does every check."""
    ints, optional = set(ints), set(optional)
    data: dict[str, Any] = {}
    for name in fields:
        if name not in form:
            continue
        value = form[name]
        if name in optional and value.strip() == "":
            continue
        if name in ints:
            try:
                data[name] = int(value.strip())
            except ValueError:
                data[name] = value
        else:
            data[name] = value
    return data


def parse(model: type[M], data: dict[str, Any]) -> M:
    return model.model_validate(data)


def error_status(exc: ValidationError | BookdError) -> int:
    """The status a refused form answers with: the API's own for a refusal, 422 for bad input."""
    return exc.status_code if isinstance(exc, BookdError) else 422


def field_errors(exc: ValidationError | BookdError) -> dict[str, str]:
    """The message to show next to each field, from the same errors the API would answer."""
    details = validation_details(exc.errors()) if isinstance(exc, ValidationError) else exc.details
    errors: dict[str, str] = {}
    for detail in details:
        name = str(detail.get("field", "")).split(".")[0] or "form"
        errors.setdefault(name, str(detail.get("message", "")))
    if isinstance(exc, BookdError) and not errors:
        errors["form"] = exc.message
    elif isinstance(exc, BookdError) and exc.status_code != 422:
        errors.setdefault("form", exc.message)
    return errors


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
        """Undo what a refused form tried; the page is then read afresh."""
        await self.session.rollback()
        self.current = await _current(self.request, self.session, self.now)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        tz = self.tz
        notice = unquote(self.request.cookies.get(NOTICE_COOKIE, ""))[:300]
        html = render(
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
        response = HTMLResponse(html, status_code=status)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        return response

    def redirect(self, url: str, notice: str) -> RedirectResponse:
        """After an action: to `url`, which then says `notice` (what was done) once."""
        response = RedirectResponse(url, status_code=303)
        set_cookie(response, self.request, NOTICE_COOKIE, quote(notice), NOTICE_FOR)
        return response


async def _current(request: Request, session: AsyncSession, now: datetime) -> auth.Current:
    token = request.cookies.get(SESSION_COOKIE)
    current = await auth.current(session, token, now) if token else None
    if current is None:
        raise SignInRequired()
    return current


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def read_lists(request: Request) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str):
            lists.setdefault(key, []).append(value)
    return lists


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


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: timedelta
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(max_age.total_seconds()),
        httponly=True,
        samesite="lax",
        # Behind TLS (directly, or a proxy whose X-Forwarded-Proto uvicorn trusts) the cookie is
        # never sent in clear.
        secure=request.url.scheme == "https",
        path="/",
    )
