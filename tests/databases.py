"""Test databases: the migrations run once per test run into a template on each backend, and every
database a test needs is a copy of it.

PostgreSQL copies with `CREATE DATABASE … TEMPLATE`, which fails while anyone is connected to the
template, so the copies of all xdist workers are made one at a time under a file lock (the template
itself is made under the same lock, by whichever worker comes first). SQLite copies the template's
file after a WAL checkpoint. The run's controller drops the templates when the run ends.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import make_url

from bookd import migrate

ADMIN_URL = os.environ.get(
    "BOOKD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# One id for the controller and every xdist worker of a run (xdist sets it; alone, this process).
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"{os.getpid()}{secrets.token_hex(4)}")[:12]
FOLDER = Path(tempfile.gettempdir()) / f"bookd-tests-{RUN}"
PG_TEMPLATE = f"bookd_template_{RUN}"
SQLITE_TEMPLATE = FOLDER / "template.db"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def admin(*statements: str) -> None:
    """Run `statements` on the PostgreSQL server's admin database, in order."""
    asyncio.run(_admin(*statements))


def postgres_url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _run_lock() -> Iterator[None]:
    FOLDER.mkdir(exist_ok=True)
    with (FOLDER / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def new_postgres(prefix: str) -> str:
    """A new migrated PostgreSQL database (a copy of the run's template): its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with _run_lock():
        made = FOLDER / "postgres-template"
        if not made.exists():
            admin(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}"', f'CREATE DATABASE "{PG_TEMPLATE}"')
            migrate.upgrade(postgres_url(PG_TEMPLATE))
            made.touch()
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{PG_TEMPLATE}"')
    return postgres_url(name)


def drop_postgres(url: str) -> None:
    name = make_url(url).database
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_sqlite(path: Path) -> str:
    """A migrated SQLite database at `path` (a copy of the run's template): its URL."""
    with _run_lock():
        if not SQLITE_TEMPLATE.exists():
            building = FOLDER / "template-building.db"
            migrate.upgrade(f"sqlite:///{building}")
            with sqlite3.connect(building) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            building.rename(SQLITE_TEMPLATE)
    shutil.copyfile(SQLITE_TEMPLATE, path)
    return f"sqlite:///{path}"


def drop_templates(postgres: bool) -> None:
    """At the end of the run (its controller): the templates go."""
    if postgres and (FOLDER / "postgres-template").exists():
        admin(f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}" WITH (FORCE)')
    shutil.rmtree(FOLDER, ignore_errors=True)
