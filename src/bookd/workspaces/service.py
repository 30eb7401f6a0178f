"""Workspaces, API keys and bot users."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.kit.db import insert_for
from bookd.kit.errors import NotFound, found
from bookd.kit.schemas import check_timezone
from bookd.kit.tokens import hash_key
from bookd.workspaces.models import ApiKey, BotUser, Workspace
from bookd.workspaces.schemas import BotUserProfile, WorkspaceUpdate

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


async def get_bot_user(session: AsyncSession, workspace_id: int, ns: str) -> BotUser:
    return found(await find_bot_user(session, workspace_id, ns), f"bot user {ns!r}")


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
