"""Test harness: the real app on real databases, built through the migrations.

Every test that takes `api` runs twice, on SQLite and on PostgreSQL. Each test process gets one
database per backend, a copy of the run's migrated template (tests/databases.py), dropped at the
end; each test gets its own workspace, which is all the isolation bookd's data needs (nothing
crosses workspaces). Where no PostgreSQL answers, the PostgreSQL half is skipped loudly, or fails
the run when CI=true. How the suite is laid out: docs/testing.md.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncSession

from bookd.app import create_app
from bookd.config import Settings
from bookd.workspaces import service as workspaces
from tests import databases, sizes
from tests.databases import ADMIN_URL

T = TypeVar("T")

# Chromium for the browser tests: one per test process, a new context per test.
pytest_plugins = ["tests.browser"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_answers() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


POSTGRES_UP = _postgres_answers()
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_UP else ["sqlite"]

# Passwords are hashed at argon2's cheapest cost in tests, in this process and in every `bookd`
# process a test starts (tests/console/test_password_cost.py pins the production cost).
os.environ["BOOKD_ARGON2_PROFILE"] = "cheapest"


def pytest_configure(config: pytest.Config) -> None:
    if not POSTGRES_UP:
        message = f"NO POSTGRESQL at {ADMIN_URL}: the PostgreSQL half of the suite is NOT run"
        if IN_CI:
            raise pytest.UsageError(message + " (CI=true makes this a failure)")
        warnings.warn(message, stacklevel=1)
    # For the property tests that name no count of their own (the others: sizes.examples).
    settings.register_profile("test", max_examples=10, deadline=None)
    settings.register_profile("soak", max_examples=100, deadline=None)
    settings.load_profile("soak" if sizes.SOAK else "test")


def pytest_report_header() -> str:
    return (
        "bookd backends: "
        + ", ".join(BACKENDS)
        + ("" if POSTGRES_UP else "  <-- POSTGRESQL MISSING")
        + f"; sizes: {'soak (full)' if sizes.SOAK else 'small'}"
    )


# Fixtures of the tests that start processes or a browser: the long ones.
LONG = {"scratch_postgres", "scratch_sqlite", "scratch_url", "tmp_path", "browser", "server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A hang fails in a minute (pyproject.toml); a soak test at full size gets its own limit.
    The long tests go first, each module's in its order: xdist's workers then end on short ones
    and finish together, not one waiting for the other's last browser test."""
    for item in items:
        if item.get_closest_marker("soak") and sizes.SOAK:
            item.add_marker(pytest.mark.timeout(sizes.SOAK_TIMEOUT))

    def long(item: pytest.Item) -> bool:
        return bool(item.get_closest_marker("soak")) or not LONG.isdisjoint(
            getattr(item, "fixturenames", ())
        )

    items.sort(key=lambda item: not long(item))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        databases.drop_templates(POSTGRES_UP)


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database of this process's tests on one backend, migrated (a copy of the template)."""
    backend: str = request.param
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bookd-test-") as folder:
            yield databases.new_sqlite(Path(folder) / "bookd.db")
        return
    url = databases.new_postgres("bookd_test")
    try:
        yield url
    finally:
        databases.drop_postgres(url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on a database runs on each backend; a `postgres_only` one on PostgreSQL alone
    (none where PostgreSQL is missing: the run says so loudly, or fails in CI)."""
    if "database_url" in metafunc.fixturenames:
        postgres_only = metafunc.definition.get_closest_marker("postgres_only") is not None
        backends = [b for b in BACKENDS if b == "postgresql" or not postgres_only]
        metafunc.parametrize("database_url", backends, indirect=True, scope="session")


# The test app serves /metrics to the bearer of this token.
METRICS_TOKEN = "metrics-token-for-tests"


class TestClock:
    """The app's clock in tests: real time unless a test sets it."""

    __test__ = False

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set(self, value: datetime) -> None:
        self.fixed = value

    def advance(self, delta: timedelta) -> None:
        self.fixed = self() + delta


@pytest.fixture(scope="session")
def clock() -> TestClock:
    return TestClock()


@pytest.fixture(autouse=True)
def _real_time_by_default(clock: TestClock) -> Iterator[None]:
    clock.fixed = None
    yield
    clock.fixed = None


@pytest.fixture(scope="session")
def client(database_url: str, clock: TestClock) -> Iterator[TestClient]:
    # Webhook receivers in tests listen on 127.0.0.1: private targets are allowed here.
    settings = Settings(
        database_url=database_url,
        db_pool_size=5,
        webhook_allow_private=True,
        metrics_token=METRICS_TOKEN,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Api:
    """A workspace's view of the API: requests carry its key."""

    client: TestClient
    workspace_id: int
    key: str
    backend: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return self.client.request(
            method, path, headers={**self.headers, **(headers or {})}, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work(session)` in a committed transaction on the app's own engine and loop."""
        return run_in_app(self.client, work)


def run_in_app(client: TestClient, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def call() -> T:
        async with client.app.state.db.transaction() as session:  # type: ignore[attr-defined]
            return await work(session)

    assert client.portal is not None
    return client.portal.call(call)


def new_workspace(client: TestClient, *, timezone: str = "UTC", backend: str = "") -> Api:
    async def work(session: AsyncSession) -> tuple[int, str]:
        now = datetime.now(UTC)
        workspace = await workspaces.create_workspace(
            session, f"ws-{secrets.token_hex(3)}", timezone, now
        )
        issued = await workspaces.issue_api_key(session, workspace.id, now)
        return workspace.id, issued.key

    workspace_id, key = run_in_app(client, work)
    return Api(client=client, workspace_id=workspace_id, key=key, backend=backend)


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def api(client: TestClient, backend: str) -> Api:
    """A fresh workspace (timezone UTC) and its API key."""
    return new_workspace(client, backend=backend)


@pytest.fixture
def make_workspace(client: TestClient, backend: str) -> Callable[..., Api]:
    """Another fresh workspace, e.g. `make_workspace(timezone="Europe/Berlin")`."""
    return lambda **kw: new_workspace(client, backend=backend, **kw)


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A migrated PostgreSQL database of the test's own, for tests that run bookd processes."""
    if not POSTGRES_UP:
        pytest.skip("needs PostgreSQL")
    url = databases.new_postgres("bookd_scratch")
    try:
        yield url
    finally:
        databases.drop_postgres(url)


@pytest.fixture
def scratch_sqlite(tmp_path: Path) -> str:
    """A migrated SQLite database of the test's own (a file in its tmp_path)."""
    return databases.new_sqlite(tmp_path / "bookd.db")


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's own on each backend, for tests that run bookd
    processes on the real clock."""
    if request.param == "sqlite":
        yield request.getfixturevalue("scratch_sqlite")
    else:
        yield request.getfixturevalue("scratch_postgres")
