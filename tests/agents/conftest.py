"""Each test of the MCP server runs over both transports (streamable HTTP, stdio) on both
databases: `connect(token)` opens the SDK's client with that credential."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient

from tests.agents.support import Agent, over_http, over_stdio

Connect = Callable[[str], AbstractContextManager[Agent]]


@pytest.fixture(params=["http", "stdio"])
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def connect(transport: str, client: TestClient, database_url: str) -> Connect:
    if transport == "http":
        return lambda token: over_http(client, token)
    return lambda token: over_stdio(database_url, token)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The stdio transport runs on SQLite alone: `bookd mcp` is one more process start per test,
    and what differs by database is behind the tools, which run on both over HTTP (and
    `bookd mcp` starts on PostgreSQL in test_server.py)."""
    dropped = [
        item
        for item in items
        if (params := getattr(item, "callspec", None))
        and params.params.get("transport") == "stdio"
        and params.params.get("database_url") == "postgresql"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
