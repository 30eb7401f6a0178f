"""MCP clients of bookd for the tests, the SDK's own `Client` driven from a synchronous test: over
streamable HTTP into the test app (its event loop, its clock), or over stdio to a `bookd mcp`
process on the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx2
from anyio.from_thread import BlockingPortal
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.processes import BOOKD, bookd_env

BASE = "http://bookd.test"


# Every action of docs/actions.md, in its order: a staff credential is offered each as a tool
# (docs/agents.md). Written out, not read from the app, so that a dropped action fails.
TOOLS = [
    "list_booking_services",
    "get_booking_service",
    "list_booking_service_reminders",
    "list_booking_service_followups",
    "list_bookings",
    "get_booking",
    "create_booking",
    "confirm_booking",
    "reschedule_booking",
    "cancel_booking",
    "mark_booking_completed",
    "mark_booking_no_show",
    "update_booking_rating",
    "list_available_slots",
    "list_hosts",
    "analytics",
]


@dataclass
class Agent:
    """One connected MCP client: its calls block until the answer is in."""

    portal: BlockingPortal
    client: Client

    def tool_names(self) -> list[str]:
        listed = self.portal.call(self.client.list_tools)
        return [tool.name for tool in listed.tools]

    def tools(self) -> dict[str, Any]:
        return {tool.name: tool for tool in self.portal.call(self.client.list_tools).tools}

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        result: CallToolResult = self.portal.call(self.client.call_tool, name, arguments or {})
        return result

    def ok(self, name: str, **arguments: Any) -> Any:
        """The tool's answer (`data`), which must not be an error."""
        result = self.call(name, arguments)
        assert not result.is_error, result.structured_content
        return result.structured_content["data"]

    def refused(self, name: str, **arguments: Any) -> dict[str, Any]:
        """The tool error's `error` object, which must come back."""
        result = self.call(name, arguments)
        assert result.is_error, result.structured_content
        error: dict[str, Any] = result.structured_content["error"]
        return error


@asynccontextmanager
async def _over_http(client: TestClient, token: str, mode: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=client.app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {token}"},
    )
    async with (
        http,
        Client(streamable_http_client(f"{BASE}/mcp", http_client=http), mode=mode) as mcp,
    ):
        yield mcp


@contextmanager
def over_http(client: TestClient, token: str, *, mode: str = "auto") -> Iterator[Agent]:
    """An MCP client of the test app at `/mcp`, on the app's own event loop. `mode`: the SDK's
    protocol negotiation ("auto": the 2026 per-request era; "legacy": the initialize handshake)."""
    assert client.portal is not None
    with client.portal.wrap_async_context_manager(_over_http(client, token, mode)) as mcp:
        yield Agent(client.portal, mcp)


@contextmanager
def over_stdio(database_url: str, token: str) -> Iterator[Agent]:
    """A `bookd mcp` process on `database_url` with `token` in BOOKD_MCP_TOKEN, and its client."""
    server = StdioServerParameters(
        command=str(BOOKD), args=["mcp"], env=bookd_env(database_url, BOOKD_MCP_TOKEN=token)
    )
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(server)) as mcp,
    ):
        yield Agent(portal, mcp)
