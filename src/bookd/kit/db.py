"""Database plumbing: URLs, engines, the declarative base and the column types both backends share.

SQLite is the embedded default and PostgreSQL the scale-out store; everything above this module is
written once for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    any_,
    bindparam,
    event,
    make_url,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from bookd.kit import changes

T = TypeVar("T")
M = TypeVar("M")

# Read-only work opts out of the SQLite write lock with this execution option.
READ_ONLY = "bookd_read_only"
# A connection whose statements are each a transaction of its own: no BEGIN on SQLite.
AUTOCOMMIT = "bookd_autocommit"


def async_url(url: str) -> str:
    """Accept the plain URL forms of the docs; the driver is bookd's business."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL: {parsed.drivername} (use sqlite:/// or postgresql://)"
    )


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    full = async_url(url)
    kwargs: dict[str, Any] = {}
    if pool_size <= 0:
        kwargs["poolclass"] = NullPool
    elif not is_sqlite(url):
        # A fixed pool: under more concurrent requests than connections, the others wait for one.
        # With overflow connections every burst opened and closed connections (a server process
        # forked, types introspected, statements prepared anew each time).
        kwargs.update(pool_size=pool_size, max_overflow=0)
    if is_sqlite(url):
        # Returned connections are reset by `_tune_sqlite`'s `reset` hook instead.
        kwargs["pool_reset_on_return"] = None
    engine = create_async_engine(full, **kwargs)
    if is_sqlite(url):
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    # aiosqlite's own transaction handling fights SQLAlchemy's; take it over (SQLAlchemy docs,
    # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite/aiosqlite).
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        # A connection goes back to the pool with its transaction rolled back (SQLAlchemy's
        # default, done here instead). In autocommit mode there is none unless one was left open,
        # and asking aiosqlite's thread to roll back nothing costs a thread hand-off per checkout,
        # paid while holding the write lock.
        if state.transaction_was_reset or not state.asyncio_safe:
            return  # as the default reset: nothing to do, or no way to await it
        if record.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail at once with "database is locked"
        # instead of waiting for the busy timeout; writers take the lock up front.
        options = conn.get_execution_options()
        if options.get(AUTOCOMMIT):
            return
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


# The delivery pipeline's statements (claims, relay, recorder) are planned at each execution.
# asyncpg prepares every statement, and after five executions PostgreSQL may keep one generic plan
# until the table's statistics change. For the claim's LATERAL that plan read every due delivery
# of a trigger and sorted them instead of taking the first few in index order; and made while the
# events or deliveries table was empty, it stayed a scan of the whole table as long as nothing
# analyzed it again (autovacuum off, or not yet come round), growing with the table
# (tests/webhooks/test_cached_plans.py). The scheduler's and the API's statements keep their
# cached plans: planning each of the scheduler's batch statements cost workload 1 an eighth.
PLAN_EACH = text("SET plan_cache_mode TO force_custom_plan")
PLAN_CACHED = text("RESET plan_cache_mode")
PLAN_EACH_IN_TRANSACTION = text("SET LOCAL plan_cache_mode TO force_custom_plan")


class Database:
    """An engine and the ways of working on it: a transaction of the ORM, a plain read, statements."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = create_engine(url, pool_size=pool_size)
        self.pool_size = pool_size
        # The URL as the driver itself (asyncpg) takes it, for a connection of its own (LISTEN).
        self.driver_url = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._reader = async_sessionmaker(self._read_engine, expire_on_commit=False, autoflush=True)
        # Single reads: no BEGIN and ROLLBACK around them, two round trips (PostgreSQL) or thread
        # hand-offs (SQLite) that cost more than a key look-up.
        self._single_engine = self.engine.execution_options(
            **{READ_ONLY: True, AUTOCOMMIT: True},
            **({} if self.sqlite else {"isolation_level": "AUTOCOMMIT"}),
        )

        # SQLite: one writer per process at a time, queued here (see `transaction`).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def session(self, *, read_only: bool = False) -> AsyncSession:
        return (self._reader if read_only else self._writer)()

    @asynccontextmanager
    async def transaction(
        self, *, read_only: bool = False, plan_each: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """The edge of a unit of work: when the block ends, writes its change set
        (`kit.changes`) and commits; rolls back on an exception. With `plan_each`, PostgreSQL
        plans every statement of it for its parameters and the tables' sizes of the moment (see
        `PLAN_EACH`).

        On SQLite, write transactions of this process queue on an asyncio lock before `BEGIN
        IMMEDIATE`. SQLite admits one writer anyway; a writer that finds the database locked
        polls in its busy handler with growing sleeps, while one queued here starts the
        moment the previous one commits. The busy timeout still covers other processes.
        """
        async with (
            self._writing(read_only),
            self.session(read_only=read_only) as session,
            session.begin(),
        ):
            if plan_each and not self.sqlite:
                await session.execute(PLAN_EACH_IN_TRANSACTION)
            yield session
            await changes.write(session)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads each whole in itself, without the ORM's session: every statement
        is a read transaction of its own, which on SQLite does not queue behind writers."""
        async with self._single_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection for work made of statements each whole in itself (no ORM objects): on
        PostgreSQL each commits on its own, without the BEGIN and COMMIT round trips of a
        transaction, and is planned at each execution (`PLAN_EACH`); on SQLite they run in one
        write transaction, queued on the write lock."""
        if self.sqlite:
            async with self._writing(False), self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(PLAN_EACH)
            try:
                yield conn
            finally:
                await conn.execute(PLAN_CACHED)

    def _writing(self, read_only: bool) -> contextlib.AbstractAsyncContextManager[object]:
        if read_only or not self.sqlite:
            return contextlib.nullcontext()
        return _for_loop(self._write_locks, asyncio.Lock)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _for_loop(
    table: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T], make: Callable[[], T]
) -> T:
    """The running event loop's entry of `table`, made on first use: a lock belongs to one loop
    (tests drive one `Database` from several)."""
    loop = asyncio.get_running_loop()
    entry = table.get(loop)
    if entry is None:
        entry = table[loop] = make()
    return entry


def in_ids(dialect: str, column: Any, name: str = "ids") -> ColumnElement[bool]:
    """`column IN (:ids)` for a batch of ids, the list bound at execution. On PostgreSQL one array
    parameter (`= ANY($1)`): SQLAlchemy renders an IN list as one typed bound parameter per value,
    which for a scheduler batch of hundreds of ids costs more than running the query. SQLite takes
    an expanding parameter."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger())))
    return cast("ColumnElement[bool]", column.in_(bindparam(name, expanding=True)))


async def added(session: AsyncSession, row: M) -> M:
    """`row`, added to the session and flushed: with its key and defaults from the database."""
    session.add(row)
    await session.flush()
    return row


def page_of(query: Any, id_column: Any, *, limit: int, after_id: int | None) -> Any:
    """`query` as one page of a list in id order: at most `limit` rows after `after_id`."""
    if after_id is not None:
        query = query.where(id_column > after_id)
    return query.order_by(id_column).limit(limit)


def page_after(query: Any, columns: tuple[Any, ...], after: tuple[Any, ...], limit: int) -> Any:
    """`query` as one page of a list in the order of `columns` (the last one unique): at most
    `limit` rows after the row whose values are `after`. The first column's bound is written out
    as well, so that an index that starts with it (and lacks the others) answers a range."""
    later = tuple_(*columns) > tuple_(*after, types=[c.type for c in columns])
    return query.where(columns[0] >= after[0], later).order_by(*columns).limit(limit)


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing` on both backends."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of the rows that match `where` (SQL both backends read alike) only."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both backends.

    SQLite keeps naive text; storing naive UTC there keeps lexical order equal to time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# 64-bit keys for the high-volume tables on PostgreSQL; on SQLite only INTEGER is the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}
