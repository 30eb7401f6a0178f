"""Admin users, their sessions and the sign-in rate limit. Flushes only; the caller commits.

Passwords are hashed with argon2id. A session is a random token in an HttpOnly cookie, stored as
its SHA-256 (like API keys), with a CSRF token of its own that every form of the session carries.

Failed sign-ins are counted per email and per client address, one counter row per key. A sign-in
first takes both rows with an upsert, which creates or locks them, and holds them to the end of its
transaction: the check against the limit, the password's verification and the count of a failure
are one step for each key, so that parallel tries cannot all pass the check. (PostgreSQL locks the
row; SQLite has one writer, and console writes begin with `BEGIN IMMEDIATE`.)
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.console.models import AdminSession, AdminUser, SignInCounter
from bookd.kit.db import added, insert_for
from bookd.kit.errors import BookdError, Conflict, NotFound
from bookd.kit.schemas import Input
from bookd.workspaces import service as workspaces
from bookd.workspaces.models import Workspace

# A session lasts this long from sign-in, used or not; then the admin signs in again.
SESSION_LIFETIME = timedelta(hours=12)
# Failed sign-ins are counted in a window that opens with a key's first failure and lasts this long;
# at the limit further tries are refused (even with the right password, which is then not checked)
# until the window ends. The next failure after it opens a new window with a count of one.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
# Ended windows are deleted by failed sign-ins, this many at a time.
SWEEP_BATCH = 100
GENERATED_PASSWORD_BYTES = 12  # 16 characters of URL-safe base64

# argon2id at argon2-cffi's default cost, RFC 9106's low-memory profile (t=3, 64 MiB, p=4).
# BOOKD_ARGON2_PROFILE=cheapest is for test suites, which hash hundreds of passwords: never in
# production (docs/configuration.md). Hashes carry their parameters, so either verifies both.
_PROFILES = {"": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}
_profile = os.environ.get("BOOKD_ARGON2_PROFILE", "")
if _profile not in _PROFILES:
    raise ValueError("BOOKD_ARGON2_PROFILE must be empty (production) or 'cheapest' (tests)")
_hasher = PasswordHasher.from_parameters(_PROFILES[_profile])


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that an unknown email takes as long as a wrong
    password. Made at the first sign-in, not at import: every `bookd` command imports this."""
    return _hasher.hash(secrets.token_urlsafe(16))


Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, Field(min_length=10, max_length=200)]


class AdminUserCreate(Input):
    email: Email
    password: Password


class SignInForm(Input):
    """The sign-in form. Not checked like a new user's email and password: what does not match a
    user is a wrong email or password, counted as a failure. What no user can have (over the
    lengths `AdminUserCreate` allows, a NUL) is bad input, refused before anything is counted."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=200)
    next: str = Field(default="/", max_length=2000)


class SignInRefused(BookdError):
    status_code = 401
    code = "sign_in_refused"


class TooManyAttempts(BookdError):
    status_code = 429
    code = "too_many_attempts"


@dataclass(frozen=True)
class SignedIn:
    token: str
    """The cookie's value: readable only now, stored hashed."""
    session: AdminSession


@dataclass(frozen=True)
class Current:
    session: AdminSession
    user: AdminUser
    workspace: Workspace


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    session: AsyncSession, workspace_id: int, data: AdminUserCreate, now: datetime
) -> AdminUser:
    await workspaces.get_workspace(session, workspace_id)
    email = normalise_email(data.email)
    taken = await session.scalar(select(AdminUser.id).where(AdminUser.email == email))
    if taken is not None:
        raise Conflict(
            f"an admin user {email!r} already exists",
            [{"field": "email", "code": "already_exists", "message": "this email is taken"}],
        )
    return await added(
        session,
        AdminUser(
            workspace_id=workspace_id,
            email=email,
            password_hash=hash_password(data.password),
            created_at=now,
        ),
    )


async def list_users(session: AsyncSession, workspace_id: int) -> list[AdminUser]:
    query = select(AdminUser).where(AdminUser.workspace_id == workspace_id).order_by(AdminUser.id)
    return list((await session.scalars(query)).all())


async def delete_user(session: AsyncSession, workspace_id: int, user_id: int) -> None:
    user = await session.scalar(
        select(AdminUser).where(AdminUser.workspace_id == workspace_id, AdminUser.id == user_id)
    )
    if user is None:
        raise NotFound(f"no admin user {user_id}")
    await session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    await session.delete(user)
    await session.flush()


COUNTERS = SignInCounter.__table__


async def _take_counters(
    session: AsyncSession, keys: tuple[str, ...], now: datetime
) -> dict[str, int]:
    """Each key's failures in its current window, its counter row created or locked until the
    caller's transaction ends. Rows are locked in `keys`' order, email before address in every
    sign-in, so that sign-ins waiting for each other never wait in a circle. A window that has
    ended is reset to no failures."""
    ended = COUNTERS.c.window_start <= now - FAILURE_WINDOW
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


async def _count_failure(session: AsyncSession, keys: tuple[str, ...], now: datetime) -> None:
    """One more failure for each key (rows taken by `_take_counters`); the first opens the window.
    Ended windows of other keys are deleted on the way, skipping rows another sign-in holds."""
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
        .where(SignInCounter.window_start <= now - FAILURE_WINDOW)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(SignInCounter)
        .where(SignInCounter.key.in_(ended.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )


async def sign_in(
    session: AsyncSession, email: str, password: str, address: str, now: datetime
) -> SignedIn:
    """A new session for the user with this email and password, or a refusal.

    A wrong email or password is counted as a failure (the caller commits it, like a success); at
    the limit the password is not even checked. A success clears the email's failures.
    """
    email = normalise_email(email)
    email_key, address_key = f"email:{email}"[:400], f"ip:{address}"[:400]
    keys = (email_key, address_key)
    failures = await _take_counters(session, keys, now)
    if (
        failures[email_key] >= MAX_FAILURES_PER_EMAIL
        or failures[address_key] >= MAX_FAILURES_PER_ADDRESS
    ):
        raise TooManyAttempts(
            "too many failed sign-ins: try again in a few minutes",
            [{"field": "email", "code": "too_many_attempts", "message": "too many failed tries"}],
        )
    user = await session.scalar(select(AdminUser).where(AdminUser.email == email))
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        await _count_failure(session, keys, now)
        raise SignInRefused(
            "the email or the password is not right",
            [
                {
                    "field": "password",
                    "code": "sign_in_refused",
                    "message": "wrong email or password",
                }
            ],
        )
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = now
    await session.execute(delete(SignInCounter).where(SignInCounter.key == email_key))
    await session.execute(
        delete(AdminSession).where(AdminSession.user_id == user.id, AdminSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    admin_session = AdminSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        workspace_id=user.workspace_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(admin_session)
    await session.flush()
    return SignedIn(token=token, session=admin_session)


async def current(session: AsyncSession, token: str, now: datetime) -> Current | None:
    """The session, user and workspace a cookie's token opens, if it is valid now."""
    row = (
        await session.execute(
            select(AdminSession, AdminUser, Workspace)
            .join(AdminUser, AdminUser.id == AdminSession.user_id)
            .join(Workspace, Workspace.id == AdminUser.workspace_id)
            .where(AdminSession.token_hash == _token_hash(token), AdminSession.expires_at > now)
        )
    ).first()
    if row is None:
        return None
    return Current(session=row[0], user=row[1], workspace=row[2])


async def sign_out(session: AsyncSession, admin_session_id: int) -> None:
    await session.execute(delete(AdminSession).where(AdminSession.id == admin_session_id))
