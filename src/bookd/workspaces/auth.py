"""Authentication: the caller a request's bearer token stands for (a workspace's API key, or a
customer token that opens one bot user's bookings), checked before its body is read; which routes
a customer token may use; and the recording of a key's use.

A route takes `CurrentCaller` (staff: a customer token is refused with 403) unless it names
`CallerOrCustomer`; what a customer may see and do there, the services decide from
`Caller.customer`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy import Table, or_, select, update

from bookd.kit.db import Database
from bookd.kit.errors import Forbidden, Unauthorized
from bookd.kit.tokens import hash_key
from bookd.kit.web import Now, before_body, get_now
from bookd.workspaces.models import ApiKey, BotUser, Customer, CustomerToken, Workspace
from bookd.workspaces.service import CUSTOMER_TOKEN_PREFIX

log = logging.getLogger(__name__)
WORKSPACE = cast(Table, Workspace.__table__)


@dataclass(frozen=True)
class Caller:
    workspace: Workspace
    actor: str
    """Who acts, as the audit log and the events name it: `api_key:<id>` or `customer:<id>`."""
    customer: Customer | None = None
    """Set for a customer token: the one bot user it may see and act on."""

    @property
    def workspace_id(self) -> int:
        return self.workspace.id


def api_key_actor(key_id: int) -> str:
    """The audit log's name for what an API key does."""
    return f"api_key:{key_id}"


# A key's `last_used_at` is kept to this precision: written at most once a minute per key.
LAST_USED_EVERY = timedelta(minutes=1)


def bearer_token(request: Request) -> str:
    """The API key or customer token the request presents, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "an API key or a customer token is required: Authorization: Bearer <token>"
        )
    return token.strip()


def key_use_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether this use of a key should be recorded: after the answer, in a transaction of its
    own (`record_key_use`), so that a read request stays a read."""
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY


@dataclass(frozen=True)
class KeyCheck:
    caller: Caller
    record_use_of: int | None
    """The API key whose use is to be recorded (`key_use_due`), if any."""


def _api_key_query(token: str) -> Any:
    return (
        select(ApiKey.id, ApiKey.last_used_at, *WORKSPACE.columns)
        .join(Workspace, Workspace.id == ApiKey.workspace_id)
        .where(ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None))
    )


def _customer_token_query(token: str, now: datetime) -> Any:
    # Expiry and revocation are read here, on every request: nothing caches a token.
    return (
        select(CustomerToken.id, BotUser.id, BotUser.ns, *WORKSPACE.columns)
        .join(Workspace, Workspace.id == CustomerToken.workspace_id)
        .join(BotUser, BotUser.id == CustomerToken.bot_user_id)
        .where(
            CustomerToken.token_hash == hash_key(token),
            CustomerToken.revoked_at.is_(None),
            CustomerToken.expires_at > now,
        )
    )


async def identify(db: Database, token: str, now: datetime) -> KeyCheck:
    """The caller `token` stands for, read in one statement by the token's unique hash: an API
    key that is not revoked, or a customer token (`bkc_…`) that has neither expired nor been
    revoked at `now`; else 401."""
    if token.startswith(CUSTOMER_TOKEN_PREFIX):
        row = await _first(db, _customer_token_query(token, now))
        if row is None:
            raise Unauthorized("the customer token is not valid: unknown, expired or revoked")
        token_id, bot_user_id, ns, *columns = row
        customer = Customer(token_id=token_id, bot_user_id=bot_user_id, bot_user_ns=ns)
        return KeyCheck(Caller(_workspace(columns), customer.actor, customer), None)
    row = await _first(db, _api_key_query(token))
    if row is None:
        raise Unauthorized("the API key is not valid")
    key_id, last_used_at, *columns = row
    caller = Caller(_workspace(columns), api_key_actor(key_id))
    return KeyCheck(caller, key_id if key_use_due(last_used_at, now) else None)


async def _first(db: Database, query: Any) -> Any:
    # A connection in autocommit: the one statement is a consistent read on its own.
    async with db.reading() as conn:
        return (await conn.execute(query)).first()


def _workspace(columns: list[Any]) -> Workspace:
    return Workspace(**dict(zip(WORKSPACE.columns.keys(), columns, strict=True)))


async def authenticate(request: Request) -> None:
    """The caller the request's bearer token stands for, left for the dependencies below; or
    401. Runs before the request's body is read (`kit.web.before_body`), once per request."""
    if hasattr(request.state, "key_check"):
        return
    token = bearer_token(request)
    now = await get_now(request)
    request.state.key_check = await identify(request.app.state.db, token, now)


def require_staff(caller: Caller) -> None:
    """403 for a customer token: what it asks for is the workspace's staff's."""
    if caller.customer is not None:
        raise Forbidden("a customer token cannot use this: it needs the workspace's API key")


async def authenticate_staff(request: Request) -> None:
    """`authenticate`, and 403 for a customer token: the route is for the workspace's staff."""
    await authenticate(request)
    check: KeyCheck = request.state.key_check
    require_staff(check.caller)


@before_body(authenticate)
async def get_caller_or_customer(request: Request, now: Now, background: BackgroundTasks) -> Caller:
    """The caller `authenticate` found before the body was read: staff or a customer."""
    check: KeyCheck = request.state.key_check
    if check.record_use_of is not None:
        background.add_task(record_key_use, request.app.state.db, check.record_use_of, now)
    return check.caller


@before_body(authenticate_staff)
async def get_caller(caller: Annotated[Caller, Depends(get_caller_or_customer)]) -> Caller:
    """The caller of a staff route: an API key (a customer token was refused before the body)."""
    return caller


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
"""Staff: the workspace's API key. The default for a route."""
CallerOrCustomer = Annotated[Caller, Depends(get_caller_or_customer)]
"""Staff, or a customer token: for the routes a customer may use, whose services take
`caller.customer` and keep to its own bot user."""
