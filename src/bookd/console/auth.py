"""Admin users, their sessions and the sign-in rate limit. Flushes only; the caller commits.

Passwords are hashed with argon2id. A session is a random token in an HttpOnly cookie, stored as
its SHA-256 (like API keys), with a CSRF token of its own that every form of the session carries.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.console.models import AdminSession, AdminUser, SignInFailure
from bookd.kit.errors import BookdError, Conflict, NotFound
from bookd.kit.schemas import Input
from bookd.workspaces import service as workspaces
from bookd.workspaces.models import Workspace

# A session lasts this long from sign-in, used or not; then the admin signs in again.
SESSION_LIFETIME = timedelta(hours=12)
# Failed sign-ins are counted over this window; at the limit further tries are refused (even with
# the right password) until the oldest failure leaves the window.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
GENERATED_PASSWORD_BYTES = 12  # 16 characters of URL-safe base64

_hasher = PasswordHasher()
# Verified when the email is unknown, so that an unknown email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, Field(min_length=10, max_length=200)]


class AdminUserCreate(Input):
    email: Email
    password: Password


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
    user = AdminUser(
        workspace_id=workspace_id,
        email=email,
        password_hash=hash_password(data.password),
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


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


async def _failures(session: AsyncSession, key: str, since: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.key == key, SignInFailure.failed_at > since)
    )
    return int(count or 0)


async def sign_in(
    session: AsyncSession, email: str, password: str, address: str, now: datetime
) -> SignedIn:
    """A new session for the user with this email and password, or a refusal.

    A refusal is recorded as a failure (the caller commits it, like a success); at the limit the
    password is not even checked.
    """
    email = normalise_email(email)
    email_key, address_key = f"email:{email}"[:400], f"ip:{address}"[:400]
    since = now - FAILURE_WINDOW
    if (
        await _failures(session, email_key, since) >= MAX_FAILURES_PER_EMAIL
        or await _failures(session, address_key, since) >= MAX_FAILURES_PER_ADDRESS
    ):
        raise TooManyAttempts(
            "too many failed sign-ins: try again in a few minutes",
            [{"field": "email", "code": "too_many_attempts", "message": "too many failed tries"}],
        )
    user = await session.scalar(select(AdminUser).where(AdminUser.email == email))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        await session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= since))
        session.add_all([SignInFailure(key=k, failed_at=now) for k in (email_key, address_key)])
        await session.flush()
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
    await session.execute(delete(SignInFailure).where(SignInFailure.key == email_key))
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
