"""Workspaces, API keys, bot users and their customer tokens."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.kit.db import added, insert_for, page_of
from bookd.kit.errors import NotFound, ValidationFailed, found
from bookd.kit.schemas import check_timezone
from bookd.kit.tokens import hash_key
from bookd.workspaces.models import ApiKey, BotUser, Customer, CustomerToken, Workspace
from bookd.workspaces.schemas import (
    MAX_TOKEN_TTL_SECONDS,
    TOKEN_TTL_SECONDS,
    BotUserProfile,
    WorkspaceUpdate,
)

BOT_USERS = cast(Table, BotUser.__table__)


@dataclass(frozen=True)
class IssuedKey:
    id: int
    workspace_id: int
    key: str
    """The only time the key is readable: it is stored hashed."""


async def create_workspace(
    session: AsyncSession, name: str, timezone: str, now: datetime
) -> Workspace:
    check_timezone(timezone)
    workspace = Workspace(name=name, timezone=timezone, created_at=now)
    session.add(workspace)
    await session.flush()
    return workspace


async def count_workspaces(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Workspace)) or 0)


async def workspace_ids(session: AsyncSession) -> list[int]:
    return list((await session.scalars(select(Workspace.id).order_by(Workspace.id))).all())


async def get_workspace(session: AsyncSession, workspace_id: int) -> Workspace:
    return found(await session.get(Workspace, workspace_id), f"workspace {workspace_id}")


async def update_workspace(
    session: AsyncSession, workspace_id: int, data: WorkspaceUpdate
) -> Workspace:
    """Rename, or change the timezone (which later schedules use; stored times stay)."""
    workspace = await get_workspace(session, workspace_id)
    for name, value in data.model_dump(exclude_none=True).items():
        setattr(workspace, name, value)
    await session.flush()
    return workspace


async def list_api_keys(session: AsyncSession, workspace_id: int) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id)
    return list((await session.scalars(query)).all())


async def issue_api_key(
    session: AsyncSession, workspace_id: int, now: datetime, *, name: str = "default"
) -> IssuedKey:
    await get_workspace(session, workspace_id)
    prefix = secrets.token_hex(4)
    raw = f"bk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        workspace_id=workspace_id, name=name, prefix=prefix, key_hash=hash_key(raw), created_at=now
    )
    session.add(key)
    await session.flush()
    return IssuedKey(id=key.id, workspace_id=workspace_id, key=raw)


async def revoke_api_key(
    session: AsyncSession, key_id: int, now: datetime, *, workspace_id: int | None = None
) -> None:
    """Revoke a key; with `workspace_id`, only a key of that workspace."""
    query = update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if workspace_id is not None:
        query = query.where(ApiKey.workspace_id == workspace_id)
    result = await session.execute(query.values(revoked_at=now))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no active API key {key_id}")


async def find_bot_user(session: AsyncSession, workspace_id: int, ns: str) -> BotUser | None:
    return await session.scalar(
        select(BotUser).where(BotUser.workspace_id == workspace_id, BotUser.ns == ns)
    )


async def get_bot_user(
    session: AsyncSession, workspace_id: int, ns: str, *, customer: Customer | None = None
) -> BotUser:
    """The bot user named `ns`; a customer finds only itself (another is a 404, as if unknown)."""
    user = await find_bot_user(session, workspace_id, ns)
    if customer is not None and user is not None and user.id != customer.bot_user_id:
        user = None
    return found(user, f"bot user {ns!r}")


async def bot_user_timezones(
    session: AsyncSession, workspace_id: int, nss: Collection[str]
) -> dict[str, str]:
    """The timezone of each of the bot users `nss` that has set one, by `ns`."""
    if not nss:
        return {}
    rows = await session.execute(
        select(BotUser.ns, BotUser.timezone).where(
            BotUser.workspace_id == workspace_id,
            BotUser.ns.in_(sorted(nss)),
        )
    )
    return {ns: timezone for ns, timezone in rows if timezone}


async def ensure_bot_user(
    session: AsyncSession, workspace_id: int, ns: str, now: datetime
) -> BotUser:
    """The bot user named `ns`, created on first use: one statement for a new bot user and a known
    one alike (an upsert that, on conflict, sets nothing new and returns the row), safe against a
    concurrent first use. On PostgreSQL it also locks the row until the transaction ends.

    The bot user comes back as a detached object of its row: a Core statement, without the ORM's
    bulk-insert layer, which costs more than the upsert itself (`put_bot_user` writes its change
    with a statement of its own)."""
    found = await session.execute(
        _upsert_bot_user(insert_for(session)), {"workspace_id": workspace_id, "ns": ns, "now": now}
    )
    return BotUser(**found.one()._mapping)


@functools.cache
def _upsert_bot_user(insert_of: Any) -> Any:
    """`ensure_bot_user`'s statement, made once for each dialect's INSERT (`insert_for`)."""
    now = bindparam("now", type_=BotUser.created_at.type)
    insert = insert_of(BOT_USERS).values(
        workspace_id=bindparam("workspace_id"),
        ns=bindparam("ns"),
        followups_opt_out=False,
        created_at=now,
        updated_at=now,
    )
    return insert.on_conflict_do_update(
        index_elements=["workspace_id", "ns"], set_={"ns": insert.excluded.ns}
    ).returning(*BOT_USERS.columns)


async def put_bot_user(
    session: AsyncSession, workspace_id: int, ns: str, profile: BotUserProfile, now: datetime
) -> BotUser:
    user = await ensure_bot_user(session, workspace_id, ns, now)
    changes = {**profile.model_dump(), "updated_at": now}
    await session.execute(update(BOT_USERS).where(BOT_USERS.c.id == user.id).values(changes))
    for name, value in changes.items():
        setattr(user, name, value)
    return user


# --- customer tokens ---------------------------------------------------------------------------

# Told apart from an API key (`bk_…`) by this prefix, before anything is read.
CUSTOMER_TOKEN_PREFIX = "bkc_"
CUSTOMER_TOKEN_TTL = timedelta(seconds=TOKEN_TTL_SECONDS)
MAX_CUSTOMER_TOKEN_TTL = timedelta(seconds=MAX_TOKEN_TTL_SECONDS)


class IssuedCustomerToken(NamedTuple):
    row: CustomerToken
    token: str
    """The only time the token is readable: it is stored hashed."""


async def issue_customer_token(
    session: AsyncSession,
    workspace_id: int,
    bot_user_ns: str,
    now: datetime,
    *,
    ttl: timedelta = CUSTOMER_TOKEN_TTL,
) -> IssuedCustomerToken:
    """A new token for the bot user `bot_user_ns` (created on first use), valid for `ttl` (at most
    30 days) from `now`."""
    if not timedelta(0) < ttl <= MAX_CUSTOMER_TOKEN_TTL:
        raise ValidationFailed.on(
            "ttl_seconds", "out_of_range", "a customer token lasts from a second to 30 days"
        )
    bot_user = await ensure_bot_user(session, workspace_id, bot_user_ns, now)
    values, token = customer_token_values(workspace_id, bot_user.id, now, now + ttl)
    row = await added(session, CustomerToken(**values))
    return IssuedCustomerToken(row, token)


def customer_token_values(
    workspace_id: int, bot_user_id: int, now: datetime, expires_at: datetime
) -> tuple[dict[str, Any], str]:
    """A new token for a bot user: the values of its row (the token hashed) and the token, for
    callers that insert many rows in one statement (the scheduler's links, `[MANAGE_URL]`)."""
    token = CUSTOMER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "workspace_id": workspace_id,
        "bot_user_id": bot_user_id,
        "token_hash": hash_key(token),
        "created_at": now,
        "expires_at": expires_at,
    }
    return values, token


async def customer_token_expires_at(session: AsyncSession, token_id: int) -> datetime:
    """When the customer token `token_id` stops working (unless revoked before)."""
    query = select(CustomerToken.expires_at).where(CustomerToken.id == token_id)
    return (await session.execute(query)).scalar_one()


async def list_customer_tokens(
    session: AsyncSession,
    workspace_id: int,
    *,
    bot_user_ns: str | None = None,
    limit: int,
    after_id: int | None = None,
) -> list[tuple[CustomerToken, str]]:
    """The workspace's customer tokens (expired and revoked ones too), each with its bot user's
    ns; with `bot_user_ns`, that bot user's only."""
    query = (
        select(CustomerToken, BotUser.ns)
        .join(BotUser, BotUser.id == CustomerToken.bot_user_id)
        .where(CustomerToken.workspace_id == workspace_id)
    )
    if bot_user_ns is not None:
        query = query.where(BotUser.ns == bot_user_ns)
    page = page_of(query, CustomerToken.id, limit=limit, after_id=after_id)
    return [(token, ns) for token, ns in (await session.execute(page)).all()]


async def revoke_customer_token(
    session: AsyncSession, workspace_id: int, token_id: int, now: datetime
) -> None:
    """Stop the token working from `now` on; a token revoked already keeps its first time."""
    token = await session.scalar(
        select(CustomerToken).where(
            CustomerToken.id == token_id, CustomerToken.workspace_id == workspace_id
        )
    )
    token = found(token, f"customer token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
        await session.flush()


async def revoke_customer_tokens(
    session: AsyncSession, workspace_id: int, bot_user_ns: str, now: datetime
) -> int:
    """Stop every token of the bot user working from `now` on; how many still worked."""
    bot_user = await get_bot_user(session, workspace_id, bot_user_ns)
    result = await session.execute(
        update(CustomerToken)
        .where(
            CustomerToken.bot_user_id == bot_user.id,
            CustomerToken.revoked_at.is_(None),
            CustomerToken.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
