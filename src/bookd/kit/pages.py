"""Server-rendered pages' plumbing, shared by the admin console and the self-service page: one
transaction per request with refusals answered as pages, CSRF, cookies, the notice after an
action, forms read into the API's schemas, and the security headers of every answer.

It knows no feature: each set of pages brings its templates, its error page and its visitor (an
admin's session, a customer's token).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path as Folder
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookd.kit import changes
from bookd.kit.db import Database
from bookd.kit.errors import BookdError
from bookd.kit.schemas import EARLIEST, LATEST, NO_NUL
from bookd.kit.web import validation_details

CSRF_FIELD = "csrf_token"
# What an action did, said once on the page it redirects to (then the cookie is cleared).
NOTICE_COOKIE = "bookd_notice"
NOTICE_FOR = timedelta(minutes=1)

M = TypeVar("M", bound=BaseModel)
ErrorPage = Callable[[int, str], Response]


# A page address's parameters as the pages take them: an id a database integer holds, a word that
# names an action, a query's text; a NUL is refused (PostgreSQL text holds none).
MAX_ID = 2**31 - 1
IdInPath = Annotated[int, Path(ge=1, le=MAX_ID)]
WordInPath = Annotated[str, Path(max_length=20, pattern=NO_NUL)]
TextInQuery = Annotated[str, Query(pattern=NO_NUL)]


def templates(folder: Folder) -> Environment:
    """The Jinja2 templates of a set of pages: HTML escaped, block tags leave no blank lines."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class CsrfRefused(Exception):
    """A form without the CSRF token its page gave: refused, nothing done."""


class PageRoute(APIRoute):
    """A page request is one transaction (`Database.transaction`), like an API request (its body
    read before the transaction begins), with two differences: a form's change runs in a savepoint
    that a handler showing the refused form rolls back (`refused`), and refusals become HTML pages
    instead of JSON (`refusal_page`, each set of pages its own)."""

    csrf_refusal = "The form expired or did not come from this page: reload it."

    def refusal_page(self, status: int, message: str) -> Response:
        """The page a refusal answers with."""
        raise NotImplementedError

    def answer_to(self, request: Request, exc: Exception) -> Response | None:
        """The answer to an exception of the set of pages' own (the console's "sign in first"),
        after the transaction was rolled back; None for any other."""
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        read_only = (self.methods or set()) <= {"GET", "HEAD"}

        async def run(request: Request) -> Response:
            db: Database = request.app.state.db
            try:
                # The whole form before the transaction: no client holds a transaction open.
                await request.body()
            except BookdError as exc:
                return self.refusal_page(exc.status_code, exc.message)
            try:
                async with db.transaction(read_only=read_only) as session:
                    request.state.session = session
                    if read_only:
                        return await handler(request)
                    # A form's change in a savepoint of its own: a handler that shows the
                    # refused form undoes it (`refused`), then reads the page afresh.
                    async with changes.Savepoint(session) as attempt:
                        request.state.attempt = attempt
                        return await handler(request)
            except CsrfRefused:
                return self.refusal_page(403, self.csrf_refusal)
            except (BookdError, RequestValidationError) as exc:
                if isinstance(exc, RequestValidationError):
                    return self.refusal_page(404, "There is nothing at this address.")
                return self.refusal_page(exc.status_code, exc.message)
            except Exception as exc:
                answer = self.answer_to(request, exc)
                if answer is None:
                    raise
                return answer

        return run


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


def first_error(exc: ValidationError | BookdError) -> str:
    """The first message of `field_errors`: a refusal shown at one field."""
    return next(iter(field_errors(exc).values()), "not valid")


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def read_lists(request: Request) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str):
            lists.setdefault(key, []).append(value)
    return lists


# The days pages list and offer: those of the instants the API takes, so that a day's
# neighbours, its week and its midnight in any timezone are dates and instants too.
FIRST_DAY, LAST_DAY = EARLIEST.date(), LATEST.date() - timedelta(days=1)
A_DATE = f"a date from {FIRST_DAY} to {LAST_DAY}, such as 2030-01-31"
DIGITS = re.compile(r"[0-9]{1,18}")


def read_day(value: str) -> date | None:
    """The date written, if it is one the pages show; else None."""
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


def day_asked(value: str, default: date, errors: dict[str, str], name: str = "day") -> date:
    """The day a form or an address asks for, else `default`; one written that is not a day the
    pages show is refused in `errors[name]`."""
    day = read_day(value)
    if value and day is None:
        errors[name] = A_DATE
    return day or default


def read_number(value: str, maximum: int) -> int | None:
    """A number written in ASCII digits (`isdigit` also takes "²", which `int` refuses), up to
    `maximum`; else None."""
    return int(value) if DIGITS.fullmatch(value) and int(value) <= maximum else None


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# --- cookies -----------------------------------------------------------------------------------


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    max_age: timedelta,
    *,
    path: str = "/",
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
        path=path,
    )


def html_page(request: Request, render: Callable[[str], str], status: int = 200) -> HTMLResponse:
    """A page: `render(notice)`, where the notice says what the action before it did
    (`redirect_with_notice`), or is "". The notice is then cleared: it is said once."""
    notice = unquote(request.cookies.get(NOTICE_COOKIE, ""))[:300]
    response = HTMLResponse(render(notice), status_code=status)
    if notice:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    return response


def redirect_with_notice(request: Request, url: str, notice: str) -> RedirectResponse:
    """After an action: to `url`, which then says `notice` (what was done) once."""
    response = RedirectResponse(url, status_code=303)
    set_cookie(response, request, NOTICE_COOKIE, quote(notice), NOTICE_FOR)
    return response


# --- the headers of every answer -----------------------------------------------------------------

# Only the pages' own files: no inline script, no inline <style>, nothing from elsewhere, no
# framing. Inline `style` attributes are allowed: a few templates set one (an attribute cannot
# run script); a policy without them would need those moved into the stylesheets.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # For browsers that predate `frame-ancestors`.
    "x-frame-options": "DENY",
    # Page URLs name bookings and services: other sites do not learn them from a link.
    "referrer-policy": "same-origin",
}
# Pages show a workspace's data and secrets shown once (API keys, passwords): never stored by the
# browser or a proxy. Static files may be kept, and are revalidated on each use (their URLs carry
# no version, so an upgrade must not leave an old stylesheet in use).
PAGE_CACHE = "no-store"
STATIC_CACHE = "no-cache"


def first_segment(path: str) -> str:
    """A path's section, as `PageHeaders` reads it: `bookings` of `/bookings/12`, "" of `/`."""
    return path.split("/", 2)[1]


def sections_of(routers: Iterable[APIRouter]) -> frozenset[str]:
    """The sections of the routers' page addresses."""
    return frozenset(
        first_segment(route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    )


class PageHeaders:
    """Adds `headers` and a Cache-Control to the answers of a set of pages' paths: those whose
    first segment is one of `sections` ("" for `/`); `static` ones may be cached. An ASGI
    middleware, so that no route can forget them.

    An exception that escapes the app on such a path is answered here, as the set's `error` page
    with these headers (the server's own answer would be plain text without them), and raised
    again for the server to log.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        sections: frozenset[str],
        static: frozenset[str],
        error: ErrorPage,
        headers: Mapping[str, str] = HEADERS,
    ) -> None:
        self.app = app
        self.sections = sections
        self.static = static
        self.error = error
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        section = scope["path"].split("/", 2)[1] if scope["path"].startswith("/") else None
        if section not in self.sections:
            await self.app(scope, receive, send)
            return
        cache = STATIC_CACHE if section in self.static else PAGE_CACHE
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                headers.setdefault("cache-control", cache)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            page = self.error(500, "Something went wrong on the server: try again later.")
            await page(scope, receive, send_with_headers)
            raise
