"""Writing many rows in one statement, and the change set's inserts in one round trip.

`insert_rows` and `add_counts` write at once. `insert_later` and `add_counts_later` queue their
statement in the session until `flush` (which `kit.changes.write` calls after the change set's
writers): on PostgreSQL the queued statements of a request's change (up to COMBINE_ROWS rows) then
go in ONE statement, each a data-modifying `WITH` part of it, so that a creation's reminders, audit
row, event and counters cost one round trip instead of four; a batch's go one statement a table. What is queued must be read by nothing in the transaction before the flush, and no two
queued statements may write the same row (one counter statement per table: the tallies are summed
first). SQLite runs them one by one, in order, as the statements they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_LATER = "bookd_inserts_later"
# Queued rows up to which PostgreSQL gets them in one statement: a request's change (a few rows)
# saves round trips so; a scheduler batch's thousands went 15% slower as one statement than as
# one per table (workload 1), and there the round trips are few anyway.
COMBINE_ROWS = 64


async def insert_rows(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, returning: str = ""
) -> list[Any]:
    """Insert `rows` (dicts with the same keys) in one statement; the `returning` columns (comma
    separated) of the rows made, in no particular order.

    On PostgreSQL as `INSERT ... SELECT * FROM unnest(<one array per column>)`: one message of
    arrays the driver encodes in C, where an `executemany` sends and the server plans one insert
    per row. SQLite's driver runs `executemany` in C already."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        statement: Any = insert(table)
        if returning:
            statement = statement.returning(*[table.c[c.strip()] for c in returning.split(",")])
            return list((await session.execute(statement, rows)).all())
        await session.execute(statement, rows)
        return []
    names = tuple(rows[0])
    statement = _unnest_insert(table, names, returning)
    result = await session.execute(statement, {n: [row[n] for row in rows] for n in names})
    return list(result.all()) if returning else []


@functools.lru_cache(maxsize=256)
def _unnest_insert(table: Table, names: tuple[str, ...], returning: str) -> Any:
    """`insert_rows`' statement on PostgreSQL, made once for each table, columns and returning."""
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"SELECT * FROM unnest({', '.join(f':{n}' for n in names)})"
        + (f" RETURNING {returning}" if returning else "")
    )
    return text(sql).bindparams(*[bindparam(n, type_=ARRAY(table.c[n].type)) for n in names])


async def add_counts(
    session: AsyncSession | AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    labels: tuple[str, ...] = (),
) -> None:
    """Add `rows` to the counter rows of `table` with the same primary key (made at 0 where there
    is none): each column that is neither part of the key nor one of `labels` (written when the
    row is made, kept after) is a count, incremented by the row's value. One statement; a
    negative value counts down."""
    if not rows:
        return
    key = [c.name for c in table.primary_key.columns]
    counts = [name for name in rows[0] if name not in key and name not in labels]
    # Rows in key order: two transactions adding to the same rows lock them in the same order.
    rows = sorted(rows, key=lambda row: tuple(row[k] for k in key))
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    statement = _upsert(table, bind.dialect.name, tuple(key), tuple(counts), tuple(rows[0]))
    await session.execute(statement, rows)


@functools.lru_cache(maxsize=64)
def _upsert(
    table: Table,
    dialect: str,
    key: tuple[str, ...],
    counts: tuple[str, ...],
    names: tuple[str, ...],
) -> Any:
    """`add_counts`' statement, made once for each table, dialect and columns: the counters have
    dozens of columns, and building the statement and its cache key anew cost more than running
    it (a fifth of a booking's creation)."""
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + statement.excluded[name] for name in counts},
    )


# --- queued until the change set is written -----------------------------------------------------


@dataclass(frozen=True)
class _Queued:
    table: Table
    rows: list[dict[str, Any]]
    labels: tuple[str, ...] | None
    """None: an insert; else an `add_counts` of the table, with these label columns."""


def insert_later(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """`insert_rows(session, table, rows)` at the next `flush`."""
    if rows:
        session.info.setdefault(_LATER, []).append(_Queued(table, rows, None))


def add_counts_later(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, labels: tuple[str, ...] = ()
) -> None:
    """`add_counts(session, table, rows, labels=labels)` at the next `flush`."""
    if rows:
        session.info.setdefault(_LATER, []).append(_Queued(table, rows, labels))


async def flush(session: AsyncSession) -> None:
    """Write what `insert_later` and `add_counts_later` queued: one statement on PostgreSQL."""
    queued: list[_Queued] | None = session.info.pop(_LATER, None)
    if not queued:
        return
    combine = session.get_bind().dialect.name == "postgresql" and len(queued) > 1
    if not combine or sum(len(q.rows) for q in queued) > COMBINE_ROWS:
        for q in queued:
            if q.labels is None:
                await insert_rows(session, q.table, q.rows)
            else:
                await add_counts(session, q.table, q.rows, labels=q.labels)
        return
    parts = []
    values: dict[str, Any] = {}
    for i, q in enumerate(queued):
        names = tuple(q.rows[0])
        rows = q.rows
        if q.labels is not None:
            key = tuple(c.name for c in q.table.primary_key.columns)
            rows = sorted(rows, key=lambda row: tuple(row[k] for k in key))
        parts.append((q.table, names, q.labels))
        values.update({f"p{i}_{n}": [row[n] for row in rows] for n in names})
    await session.execute(_combined(tuple(parts)), values)


@functools.lru_cache(maxsize=128)
def _combined(parts: tuple[tuple[Table, tuple[str, ...], tuple[str, ...] | None], ...]) -> Any:
    """One statement of several `INSERT ... SELECT * FROM unnest(...)` (counters with their
    `ON CONFLICT ... DO UPDATE`), all but the last as `WITH` parts; made once for each shape."""
    sql = []
    params = []
    for i, (table, names, labels) in enumerate(parts):
        statement = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"SELECT * FROM unnest({', '.join(f':p{i}_{n}' for n in names)})"
        )
        if labels is not None:
            key = [c.name for c in table.primary_key.columns]
            counts = [n for n in names if n not in key and n not in labels]
            statement += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(
                f"{n} = {table.name}.{n} + EXCLUDED.{n}" for n in counts
            )
        sql.append(statement)
        params += [bindparam(f"p{i}_{n}", type_=ARRAY(table.c[n].type)) for n in names]
    with_parts = ", ".join(f"w{i} AS ({statement})" for i, statement in enumerate(sql[:-1]))
    return text(f"WITH {with_parts} {sql[-1]}").bindparams(*params)
