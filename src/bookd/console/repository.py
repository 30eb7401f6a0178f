"""The console's statements: its admin users, their sessions and the sign-in counters. What they
mean (passwords, limits, lifetimes) is `auth`'s; these read and write, and flush at most."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.console.models import AdminSession, AdminUser, SignInCounter
from bookd.kit.db import insert_for
from bookd.workspaces.models import Workspace

COUNTERS = SignInCounter.__table__


async def email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None


async def find_user_by_email(session: AsyncSession, email: str) -> AdminUser | None:
    return await session.scalar(select(AdminUser).where(AdminUser.email == email))


async def find_user(session: AsyncSession, workspace_id: int, user_id: int) -> AdminUser | None:
    return await session.scalar(
        select(AdminUser).where(AdminUser.workspace_id == workspace_id, AdminUser.id == user_id)
    )


async def list_users(session: AsyncSession, workspace_id: int) -> list[AdminUser]:
    query = select(AdminUser).where(AdminUser.workspace_id == workspace_id).order_by(AdminUser.id)
    return list((await session.scalars(query)).all())


async def delete_user(session: AsyncSession, user: AdminUser) -> None:
    """The user and its sessions."""
    await session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    await session.delete(user)
    await session.flush()


async def find_session(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[AdminSession, AdminUser, Workspace] | None:
    """The session whose token has this hash, with its user and workspace, if it has not expired
    at `now`."""
    row = (
        await session.execute(
            select(AdminSession, AdminUser, Workspace)
            .join(AdminUser, AdminUser.id == AdminSession.user_id)
            .join(Workspace, Workspace.id == AdminUser.workspace_id)
            .where(AdminSession.token_hash == token_hash, AdminSession.expires_at > now)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


async def delete_expired_sessions(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        delete(AdminSession).where(AdminSession.user_id == user_id, AdminSession.expires_at <= now)
    )


async def delete_session(session: AsyncSession, admin_session_id: int) -> None:
    await session.execute(delete(AdminSession).where(AdminSession.id == admin_session_id))


async def take_counters(
    session: AsyncSession, keys: tuple[str, ...], now: datetime, window: timedelta
) -> dict[str, int]:
    """Each key's failures in its current window, its counter row created or locked until the
    caller's transaction ends. Rows are locked in `keys`' order, so that callers that pass keys
    in one order never wait for each other in a circle. A window that has ended (`window` after
    its start) is reset to no failures."""
    ended = COUNTERS.c.window_start <= now - window
    start = literal(now, COUNTERS.c.window_start.type)
    statement = (
        insert_for(session)(COUNTERS)
        .values([{"key": key, "window_start": now, "failures": 0} for key in keys])
        .on_conflict_do_update(
            index_elements=[COUNTERS.c.key],
            set_={
                "failures": case((ended, 0), else_=COUNTERS.c.failures),
                "window_start": case((ended, start), else_=COUNTERS.c.window_start),
            },
        )
        .returning(COUNTERS.c.key, COUNTERS.c.failures)
    )
    return {key: failures for key, failures in (await session.execute(statement)).all()}


async def count_failure(
    session: AsyncSession, keys: tuple[str, ...], now: datetime, window: timedelta, *, sweep: int
) -> None:
    """One more failure for each key (rows taken by `take_counters`); the first opens the window.
    Up to `sweep` ended windows of other keys are deleted on the way, skipping rows another
    sign-in holds."""
    start = literal(now, COUNTERS.c.window_start.type)
    await session.execute(
        update(SignInCounter)
        .where(SignInCounter.key.in_(keys))
        .values(
            failures=SignInCounter.failures + 1,
            window_start=case(
                (SignInCounter.failures == 0, start), else_=SignInCounter.window_start
            ),
        )
        .execution_options(synchronize_session=False)
    )
    ended = (
        select(SignInCounter.key)
        .where(SignInCounter.window_start <= now - window)
        .limit(sweep)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(SignInCounter)
        .where(SignInCounter.key.in_(ended.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )


async def clear_counter(session: AsyncSession, key: str) -> None:
    await session.execute(delete(SignInCounter).where(SignInCounter.key == key))
