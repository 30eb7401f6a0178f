"""The `bookd` command, run as a user runs it: real subprocesses on real databases.

Every database here is the test's own (a fresh SQLite file, or a PostgreSQL database created and
dropped by the test), because `migrate`, `init` and `serve` are about what happens to an empty one.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from bookd import migrate
from bookd.app import create_app
from bookd.config import Settings
from tests.conftest import ADMIN_URL, POSTGRES_UP
from tests.processes import BOOKD, bookd_env, free_port, serving

COMMAND_TIMEOUT = 60
HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def bookd(
    *args: str, cwd: Path, url: str | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BOOKD), *args],
        cwd=cwd,
        env=bookd_env(url),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check:
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return done


def assert_key_works(base: str, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    services = httpx.get(f"{base}/v1/services", headers=auth, timeout=10)
    assert services.status_code == 200, services.text
    assert services.json() == {"data": [], "next_cursor": None}
    action = httpx.post(f"{base}/v1/actions/list_booking_services", headers=auth, timeout=10)
    assert action.status_code == 200, action.text
    assert action.json()["data"] == []
    anonymous = httpx.get(f"{base}/v1/services", timeout=10)
    assert anonymous.status_code == 401


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "bookd.db"


@pytest.fixture
def sqlite_url(db_file: Path) -> str:
    return f"sqlite:///{db_file}"


def in_process(url: str) -> TestClient:
    """The app on the same database file, to see what the commands left there."""
    return TestClient(create_app(Settings(database_url=url, db_pool_size=0)))


def test_workspaces_and_api_keys(tmp_path: Path, db_file: Path, sqlite_url: str) -> None:
    done = bookd("migrate", cwd=tmp_path, url=sqlite_url)
    assert sqlite_rows(db_file, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert "migrations applied" in done.stderr
    assert sqlite_rows(db_file, "SELECT count(*) FROM workspaces") == [(0,)]

    created = bookd(
        "workspace",
        "create",
        "Acme Clinic",
        "--timezone",
        "Europe/Berlin",
        cwd=tmp_path,
        url=sqlite_url,
    )
    lines = created.stdout.strip().splitlines()
    assert len(lines) == 1, created.stdout
    workspace = json.loads(lines[0])
    assert isinstance(workspace["workspace_id"], int)
    assert workspace["api_key"].startswith("bk_")
    assert sqlite_rows(db_file, "SELECT id, name, timezone FROM workspaces") == [
        (workspace["workspace_id"], "Acme Clinic", "Europe/Berlin")
    ]

    bad = bookd(
        "workspace",
        "create",
        "Nowhere",
        "--timezone",
        "Mars/Olympus",
        cwd=tmp_path,
        url=sqlite_url,
        check=False,
    )
    assert bad.returncode != 0
    assert "unknown timezone 'Mars/Olympus'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""
    assert sqlite_rows(db_file, "SELECT count(*) FROM workspaces") == [(1,)]

    second = json.loads(
        bookd(
            "apikey",
            "create",
            "--workspace",
            str(workspace["workspace_id"]),
            cwd=tmp_path,
            url=sqlite_url,
        ).stdout
    )
    assert second["workspace_id"] == workspace["workspace_id"]
    assert second["api_key"] not in (workspace["api_key"], "")
    with in_process(sqlite_url) as client:
        for key in (workspace["api_key"], second["api_key"]):
            response = client.get("/v1/services", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200, response.text

    revoked = bookd("apikey", "revoke", str(workspace["api_key_id"]), cwd=tmp_path, url=sqlite_url)
    assert json.loads(revoked.stdout) == {"api_key_id": workspace["api_key_id"], "revoked": True}
    with in_process(sqlite_url) as client:
        gone = client.get(
            "/v1/services", headers={"Authorization": f"Bearer {workspace['api_key']}"}
        )
        assert gone.status_code == 401
        kept = client.get("/v1/services", headers={"Authorization": f"Bearer {second['api_key']}"})
        assert kept.status_code == 200

    nobody = bookd(
        "apikey", "create", "--workspace", "999", cwd=tmp_path, url=sqlite_url, check=False
    )
    assert nobody.returncode != 0
    assert "no workspace 999" in nobody.stderr


KEY_LINE = re.compile(r"API key \(shown once, keep it\): (\S+)")


def test_readme_quick_start_init_then_serve(tmp_path: Path) -> None:
    """`make run` = `bookd init` + `bookd serve`, with the default database ./bookd.db."""
    port = free_port()
    first = bookd("init", "--port", str(port), cwd=tmp_path, url=None)
    assert (tmp_path / "bookd.db").exists()
    match = KEY_LINE.search(first.stdout)
    assert match, first.stdout
    key = match.group(1)
    assert (
        f"curl -H 'Authorization: Bearer {key}' http://127.0.0.1:{port}/v1/services" in first.stdout
    )
    assert sqlite_rows(tmp_path / "bookd.db", "SELECT name, timezone FROM workspaces") == [
        ("My workspace", "UTC")
    ]

    second = bookd("init", "--port", str(port), cwd=tmp_path, url=None)
    assert "already set up" in second.stdout
    assert "bk_" not in second.stdout
    assert sqlite_rows(tmp_path / "bookd.db", "SELECT count(*) FROM workspaces") == [(1,)]
    assert sqlite_rows(tmp_path / "bookd.db", "SELECT count(*) FROM api_keys") == [(1,)]

    with serving(tmp_path, bookd_env(None)) as base:
        assert_key_works(base, key)


def test_serve_migrates_a_fresh_sqlite_database(
    tmp_path: Path, db_file: Path, sqlite_url: str
) -> None:
    assert not db_file.exists()
    with serving(tmp_path, bookd_env(sqlite_url)) as base:
        assert sqlite_rows(db_file, "SELECT version_num FROM alembic_version") == [(HEAD,)]
        workspace = json.loads(
            bookd("workspace", "create", "Live", cwd=tmp_path, url=sqlite_url).stdout
        )
        assert_key_works(base, workspace["api_key"])


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_UP:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}")
    name = f"bookd_cli_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        # The plain URL form of the docs: the driver is bookd's business.
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_serve_migrates_a_fresh_postgres_database(tmp_path: Path, postgres_url: str) -> None:
    with serving(tmp_path, bookd_env(postgres_url)) as base:
        version = asyncio.run(_fetch(postgres_url, "SELECT version_num FROM alembic_version"))
        assert version == [(HEAD,)]
        workspace = json.loads(
            bookd(
                "workspace",
                "create",
                "Scale",
                "--timezone",
                "America/New_York",
                cwd=tmp_path,
                url=postgres_url,
            ).stdout
        )
        assert_key_works(base, workspace["api_key"])
        revoked = bookd(
            "apikey", "revoke", str(workspace["api_key_id"]), cwd=tmp_path, url=postgres_url
        )
        assert json.loads(revoked.stdout)["revoked"] is True
        gone = httpx.get(
            f"{base}/v1/services",
            headers={"Authorization": f"Bearer {workspace['api_key']}"},
            timeout=10,
        )
        assert gone.status_code == 401
    rows = asyncio.run(_fetch(postgres_url, "SELECT name, timezone FROM workspaces"))
    assert rows == [("Scale", "America/New_York")]
