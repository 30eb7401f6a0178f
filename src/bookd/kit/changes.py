"""A transaction's change set: what its changes write besides the rows they change.

A change (a booking created, a reminder sent, a meeting started) adds to the change set of its
transaction the rows that follow from it: audit rows, events, message status changes, counter
changes, a wake-up for the schedulers, and whatever kinds of rows later features add. Each kind
has one writer. The owner of the transaction (`Database.transaction`) writes the change set once,
before it commits: each kind's rows in bulk, by its writer, the kinds in a fixed order (`Kind.rank`).

So every door (API, console, self-service page, MCP tool, the scheduler's batch) writes the same
rows the same way, whether a transaction holds one change or a thousand, and a writer edited is
edited for all of them. A change that must read what an earlier change of its transaction added
writes the change set first (`write`), as an ORM flush does. A change set belongs to its
session, which lives for one transaction: a transaction rolled back takes its change set with it,
and a savepoint rolled back drops what was added since it began (`Savepoint`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bookd.kit import bulk

_KEY = "bookd_changes"


@dataclass(frozen=True, eq=False)
class Kind:
    """A kind of row a change set holds, and its one writer. `write(session, rows)` stores all
    the rows of the kind added since the last write, in the order they were added; it may add
    rows of a kind written after its own (`rank`)."""

    name: str
    rank: int
    write: Callable[[AsyncSession, list[Any]], Awaitable[None]]
    key: Callable[[Any], Hashable] | None = None
    """What a row is about (a booking), for `ChangeSet.holds`: kept in a set as rows are added."""


class ChangeSet:
    """The rows of one transaction's changes not written yet, by kind."""

    def __init__(self) -> None:
        self._rows: dict[Kind, list[Any]] = {}
        self._keys: dict[Kind, set[Hashable]] = {}

    def add(self, kind: Kind, *rows: Any) -> None:
        self.extend(kind, rows)

    def extend(self, kind: Kind, rows: Iterable[Any]) -> None:
        listed = self._rows.setdefault(kind, [])
        if kind.key is None:
            listed.extend(rows)
            return
        keys = self._keys.setdefault(kind, set())
        for row in rows:
            listed.append(row)
            keys.add(kind.key(row))

    def holds(self, kind: Kind, key: Hashable) -> bool:
        """Whether a row of `kind` about `key` waits to be written (a kind with a `key`)."""
        return key in self._keys.get(kind, ())

    def __bool__(self) -> bool:
        return any(self._rows.values())

    async def write(self, session: AsyncSession) -> None:
        """Write every kind's rows, lowest rank first; a writer's rows of a later kind follow."""
        while self._rows:
            kind = min(self._rows, key=lambda k: k.rank)
            rows = self._rows.pop(kind)
            self._keys.pop(kind, None)
            if rows:
                await kind.write(session, rows)
        await bulk.flush(session)  # the writers' queued inserts: one round trip on PostgreSQL

    def mark(self) -> dict[Kind, int]:
        return {kind: len(rows) for kind, rows in self._rows.items()}

    def undo(self, mark: dict[Kind, int]) -> None:
        """Drop what was added after `mark` (a savepoint rolled back)."""
        for kind in list(self._rows):
            del self._rows[kind][mark.get(kind, 0) :]
            if kind.key is not None:
                self._keys[kind] = {kind.key(row) for row in self._rows[kind]}

    def clear(self) -> None:
        self._rows.clear()
        self._keys.clear()


def of(session: AsyncSession) -> ChangeSet:
    """The change set of the session's transaction, made on first use."""
    found: ChangeSet | None = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = ChangeSet()
    return found


async def write(session: AsyncSession) -> None:
    """Write the session's change set now (before the commit, or before a read that needs it)."""
    found: ChangeSet | None = session.info.get(_KEY)
    if found:
        await found.write(session)
    else:
        await bulk.flush(session)


class Savepoint:
    """`async with Savepoint(session) as part:` a part of a transaction that can be undone alone
    (`part.rollback()`, or an exception leaving the block): the rows it wrote and the change set's
    rows it added. A page that shows a refused form undoes what the form tried this way and goes
    on reading in the same transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._open = False

    async def __aenter__(self) -> Savepoint:
        self._mark = of(self.session).mark()
        self._nested = await self.session.begin_nested()
        self._open = True
        return self

    async def rollback(self) -> None:
        if self._open:
            self._open = False
            await self._nested.rollback()
            of(self.session).undo(self._mark)

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if exc is not None:
            await self.rollback()
        elif self._open:
            self._open = False
            await self._nested.commit()
