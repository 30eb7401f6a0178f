"""Waking idle schedulers when a change makes something due sooner than they planned to look.

On PostgreSQL a NOTIFY inside the changing transaction is delivered at COMMIT to every listening
worker process; in one process (SQLite, or `bookd serve`) an after-commit hook sets the local
workers' events. Nothing notifies when a stored time merely arrives: workers also sleep at most
about a second.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bookd.kit import changes

CHANNEL = "bookd_due"
NOTIFY_SQL = f"SELECT pg_notify('{CHANNEL}', '')"
# A change wakes the schedulers when it makes something due within this long; anything later they
# find on their own, since none sleeps longer (the longest sleep setting is capped at this).
WAKE_WITHIN = timedelta(minutes=5)
_FLAG = "bookd_wake"
_local: set[asyncio.Event] = set()


async def announce(session: AsyncSession) -> None:
    """Call inside a transaction that scheduled something; the wake-up goes out at its COMMIT
    (added to its change set, written once however many changes announce it)."""
    if not session.info.get(_FLAG):
        session.info[_FLAG] = True
        changes.of(session).add(WAKE_UP, True)


async def _notify(session: AsyncSession, _rows: list[bool]) -> None:
    """The wake-up's writer: one NOTIFY on PostgreSQL, delivered at COMMIT to every listening
    process; this process's own schedulers are woken after the commit (`_after_commit`)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(NOTIFY_SQL))


WAKE_UP = changes.Kind("wake-up", 60, _notify)


def wake_local() -> None:
    """Wake this process's schedulers; called once a change that needs them has committed."""
    for wake in list(_local):
        wake.set()


def subscribe() -> asyncio.Event:
    wake = asyncio.Event()
    _local.add(wake)
    return wake


def unsubscribe(wake: asyncio.Event) -> None:
    _local.discard(wake)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        wake_local()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


def listener_callback(*wakes: asyncio.Event) -> Any:
    """An asyncpg LISTEN callback that sets every one of `wakes`."""

    def on_notify(*_args: Any) -> None:
        for wake in wakes:
            wake.set()

    return on_notify
