"""Admin users, their sessions and the sign-in rate limit: the console's service (its statements
are `repository`'s). Flushes only; the caller commits.

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

from bookd.console import repository
from bookd.console.models import AdminSession, AdminUser
from bookd.kit.db import AsyncSession, added
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
    if await repository.email_taken(session, email):
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
    return await repository.list_users(session, workspace_id)


async def delete_user(session: AsyncSession, workspace_id: int, user_id: int) -> None:
    user = await repository.find_user(session, workspace_id, user_id)
    if user is None:
        raise NotFound(f"no admin user {user_id}")
    await repository.delete_user(session, user)


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
    # Email before address in every sign-in: `take_counters` locks the rows in this order.
    failures = await repository.take_counters(session, keys, now, FAILURE_WINDOW)
    if (
        failures[email_key] >= MAX_FAILURES_PER_EMAIL
        or failures[address_key] >= MAX_FAILURES_PER_ADDRESS
    ):
        raise TooManyAttempts(
            "too many failed sign-ins: try again in a few minutes",
            [{"field": "email", "code": "too_many_attempts", "message": "too many failed tries"}],
        )
    user = await repository.find_user_by_email(session, email)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        await repository.count_failure(session, keys, now, FAILURE_WINDOW, sweep=SWEEP_BATCH)
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
    await repository.clear_counter(session, email_key)
    await repository.delete_expired_sessions(session, user.id, now)
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
    found = await repository.find_session(session, _token_hash(token), now)
    if found is None:
        return None
    admin_session, user, workspace = found
    return Current(session=admin_session, user=user, workspace=workspace)


async def sign_out(session: AsyncSession, admin_session_id: int) -> None:
    await repository.delete_session(session, admin_session_id)
