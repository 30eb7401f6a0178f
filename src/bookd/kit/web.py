"""HTTP plumbing shared by every feature: the unit of work per request, checks before the body,
the error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bookd.kit.db import AsyncSession, Database
from bookd.kit.errors import BookdError, ValidationFailed, error_body

log = logging.getLogger(__name__)


class UnitOfWorkRoute(APIRoute):
    """Each request is one transaction, opened here and committed before the answer is sent.

    The transaction waits for nothing from the client: the checks its dependencies ask for before
    the body (`before_body`: the API key's, in a read of its own, so a request without a valid key
    is refused before its body is read) run first, then the whole body is read (within
    `kit.bodies.BodyLimits`), and only then does the transaction begin. GET requests take a read
    transaction, which on SQLite does not queue behind writers. Services below flush at most.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        read_only = (self.methods or set()) <= {"GET", "HEAD"}
        checks = early_checks(self.dependant)

        async def run(request: Request) -> Response:
            db: Database = request.app.state.db
            for check in checks:
                await check(request)
            await request.body()
            async with db.transaction(read_only=read_only) as session:
                request.state.session = session
                return await handler(request)

        return run


EarlyCheck = Callable[[Request], Awaitable[None]]
_EARLY = "__bookd_before_body__"
D = TypeVar("D", bound=Callable[..., Any])


def before_body(check: EarlyCheck) -> Callable[[D], D]:
    """Mark a dependency: `check(request)` runs before the request's body is read (and may refuse
    it by raising); what it finds it leaves on `request.state` for the dependency."""

    def mark(dependency: D) -> D:
        setattr(dependency, _EARLY, check)
        return dependency

    return mark


def early_checks(dependant: Dependant) -> list[EarlyCheck]:
    """The `before_body` checks of a route's dependencies, however deep, each once."""
    found: list[EarlyCheck] = []
    for d in dependant.dependencies:
        check = getattr(d.call, _EARLY, None)
        for c in ([check] if check else []) + early_checks(d):
            if c not in found:
                found.append(c)
    return found


# Dependencies are `async def` even where they do not await: FastAPI runs a plain `def` one in a
# worker thread, a hand-off that costs more than the dependency itself.
async def get_session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session


async def get_now(request: Request) -> datetime:
    """The request's one reading of the clock."""
    if not hasattr(request.state, "now"):
        request.state.now = request.app.state.clock()
    now: datetime = request.state.now
    return now


Session = Annotated[AsyncSession, Depends(get_session)]
Now = Annotated[datetime, Depends(get_now)]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content=error_body(code, message, details),
        headers=headers,
    )


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


# A validation error lists at most this many problems: a body of a million bad fields answers
# with a short list, not a million lines.
MAX_DETAILS = 20


def validation_details(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "field": _field_name(tuple(e.get("loc", ()))),
            "code": e.get("type", "invalid"),
            "message": e.get("msg", ""),
        }
        for e in errors[:MAX_DETAILS]
    ]


def invalid(problems: Any) -> ValidationFailed:
    """The refusal of input that is not valid (pydantic's `problems`), each problem named: at most
    `MAX_DETAILS` of them, the message saying how many more there are."""
    message = "the request is not valid"
    if len(problems) > MAX_DETAILS:
        message += f" ({len(problems)} problems; the first {MAX_DETAILS} are listed)"
    return ValidationFailed(message, validation_details(problems))


NOT_JSON = "the body must be JSON: send Content-Type: application/json"


def not_json(request: Request, problems: Any) -> bool:
    """Whether a body was refused because it was not sent as JSON (curl's `-d` alone sends a
    form): FastAPI then reads no JSON, and the model's error would not say why."""
    headers = request.headers
    sent = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if not sent or kind == "application/json" or kind.endswith("+json"):
        return False
    return any(tuple(p.get("loc", ()))[:1] == ("body",) for p in problems)


def install_error_handlers(app: FastAPI) -> None:
    async def on_bookd_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BookdError)
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = exc.errors()
        if not_json(request, problems):
            detail = {"field": "body", "code": "not_json", "message": NOT_JSON}
            return error_response(422, "validation_error", NOT_JSON, [detail])
        refusal = invalid(problems)
        return error_response(422, refusal.code, refusal.message, refusal.details)

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (e.g. not UTF-8); to the client that is
            # bad input like any other, so it gets the one documented shape for that.
            detail = {"field": "body", "code": "body_unreadable", "message": str(exc.detail)}
            return error_response(422, "validation_error", "the request is not valid", [detail])
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        # Its headers too: a 405 names the methods that are allowed (`Allow`).
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    app.add_exception_handler(BookdError, on_bookd_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting the error answers of an operation: 401, 403 and 422 for
    every one (a customer token is refused what is for staff only), and `statuses`."""
    text = {
        401: "No or bad API key or customer token",
        403: "A customer token asking for what only the workspace's API key may do",
        404: "Not found in this workspace",
        409: "Refused by the booking's state, a limit, the service's availability or its "
        "customer policy",
        422: "The input is not valid",
    }
    return {
        s: {"model": ErrorResponse, "description": text.get(s, "Error")}
        for s in (401, 403, 422, *statuses)
    }
