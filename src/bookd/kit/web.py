"""HTTP plumbing shared by every feature: the unit of work per request, the error shape, auth."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import BackgroundTasks, Depends, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from bookd.kit.db import Database
from bookd.kit.errors import BookdError, Unauthorized
from bookd.workspaces.models import ApiKey, Workspace

log = logging.getLogger(__name__)
WORKSPACE = cast(Table, Workspace.__table__)


class UnitOfWorkRoute(APIRoute):
    """Each request is one transaction, opened here and committed before the answer is sent.

    The transaction waits for nothing from the client: the API key is checked first, in a read
    of its own (a request without a valid key is refused before its body is read), then the whole
    body is read (within `kit.bodies.BodyLimits`), and only then does the transaction begin. GET
    requests take a read transaction, which on SQLite does not queue behind writers. Services
    below flush at most.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        read_only = (self.methods or set()) <= {"GET", "HEAD"}
        keyed = depends_on(self.dependant, get_caller)

        async def run(request: Request) -> Response:
            db: Database = request.app.state.db
            if keyed:
                request.state.key_check = await authenticate(request)
            await request.body()
            async with db.transaction(read_only=read_only) as session:
                request.state.session = session
                return await handler(request)

        return run


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    """Whether `call` is among a route's dependencies, however deep."""
    return any(d.call is call or depends_on(d, call) for d in dependant.dependencies)


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


@dataclass(frozen=True)
class Caller:
    workspace: Workspace
    api_key_id: int

    @property
    def workspace_id(self) -> int:
        return self.workspace.id

    @property
    def actor(self) -> str:
        return api_key_actor(self.api_key_id)


def api_key_actor(key_id: int) -> str:
    """The audit log's name for what an API key does."""
    return f"api_key:{key_id}"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# A key's `last_used_at` is kept to this precision: written at most once a minute per key.
LAST_USED_EVERY = timedelta(minutes=1)


def bearer_token(request: Request) -> str:
    """The API key the request presents, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    return token.strip()


def key_use_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether this use of a key should be recorded: after the answer, in a transaction of its
    own (`record_key_use`), so that a read request stays a read."""
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY


@dataclass(frozen=True)
class KeyCheck:
    caller: Caller
    record_use: bool
    """Whether this use of the key is to be recorded (`key_use_due`)."""


async def authenticate(request: Request) -> KeyCheck:
    """The caller the request's API key stands for, read on a connection of its own; or 401."""
    token = bearer_token(request)
    now = await get_now(request)
    db: Database = request.app.state.db
    async with db.reading() as conn:
        row = (
            await conn.execute(
                select(ApiKey.id, ApiKey.last_used_at, *WORKSPACE.columns)
                .join(Workspace, Workspace.id == ApiKey.workspace_id)
                .where(ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        raise Unauthorized("the API key is not valid")
    key_id, last_used_at, *columns = row
    workspace = Workspace(**dict(zip(WORKSPACE.columns.keys(), columns, strict=True)))
    return KeyCheck(Caller(workspace=workspace, api_key_id=key_id), key_use_due(last_used_at, now))


async def get_caller(request: Request, now: Now, background: BackgroundTasks) -> Caller:
    """The caller `UnitOfWorkRoute` found before it read the body."""
    check: KeyCheck = request.state.key_check
    if check.record_use:
        background.add_task(record_key_use, request.app.state.db, check.caller.api_key_id, now)
    return check.caller


async def record_key_use(db: Database, key_id: int, now: datetime) -> None:
    """Set the key's `last_used_at`, unless another request did within the last minute."""
    try:
        async with db.transaction() as session:
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at <= now - LAST_USED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
    except Exception:
        # A bookkeeping write; the request it counts has been answered already.
        log.warning("could not record the use of API key %s", key_id, exc_info=True)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


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
        content={"error": {"code": code, "message": message, "details": details or []}},
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


def install_error_handlers(app: FastAPI) -> None:
    async def on_bookd_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BookdError)
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = exc.errors()
        message = "the request is not valid"
        if len(problems) > MAX_DETAILS:
            message += f" ({len(problems)} problems; the first {MAX_DETAILS} are listed)"
        return error_response(422, "validation_error", message, validation_details(problems))

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
    """OpenAPI `responses` documenting the error answers of an operation."""
    text = {
        401: "No or bad API key",
        404: "Not found in this workspace",
        409: "Refused by the booking's state, a limit or the service's availability",
        422: "The input is not valid",
    }
    return {
        s: {"model": ErrorResponse, "description": text.get(s, "Error")}
        for s in (401, 422, *statuses)
    }
