"""API-key authentication: the caller a request's key stands for, checked before its body is read,
and the recording of a key's use."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, cast

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import Table, or_, select, update

from bookd.kit.db import Database
from bookd.kit.errors import Unauthorized
from bookd.kit.tokens import hash_key
from bookd.kit.web import Now, before_body, get_now
from bookd.workspaces.models import ApiKey, Workspace

log = logging.getLogger(__name__)
WORKSPACE = cast(Table, Workspace.__table__)


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


async def authenticate(request: Request) -> None:
    """The caller the request's API key stands for, read on a connection of its own, left for
    `get_caller`; or 401. Runs before the request's body is read (`kit.web.before_body`)."""
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
    caller = Caller(workspace=workspace, api_key_id=key_id)
    request.state.key_check = KeyCheck(caller, key_use_due(last_used_at, now))


@before_body(authenticate)
async def get_caller(request: Request, now: Now, background: BackgroundTasks) -> Caller:
    """The caller `authenticate` found before the body was read."""
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
