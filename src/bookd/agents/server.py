"""The MCP server over bookd's tools (the official `mcp` SDK's low-level `Server`): streamable
HTTP at `/mcp` inside `bookd serve`, and stdio for `bookd mcp`.

The credential is checked at every request, by the same look-up as the REST API's
(`workspaces.auth`), and nothing keeps it between requests: a revoked or expired customer token
is refused at its next request. Over HTTP it is the request's `Authorization: Bearer` header;
over stdio, the token the process was started with. The tool list itself depends on it (a
customer token is offered the customer's tools only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import mcp_types as types
from mcp.server import CacheHint, Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

import bookd
from bookd.actions.endpoints import ActionName
from bookd.agents import tools
from bookd.kit.clock import Clock
from bookd.kit.db import Database
from bookd.kit.errors import BookdError
from bookd.workspaces.auth import Caller, KeyCheck, authenticate, identify, record_key_use

# The JSON-RPC error code of a refused credential (JSON-RPC leaves -32000 to -32099 to the
# server; the SDK uses -32000 and -32001). Its `data` is the API's error answer.
CREDENTIAL_REFUSED = -32030

Credential = Callable[[ServerRequestContext[Any, Any]], Awaitable[tuple[Caller, datetime]]]
"""Who makes a request, and the request's one reading of the clock."""


def build_server(db: Database, credential: Credential) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any, Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller, _now = await credential(ctx)
        return types.ListToolsResult(tools=tools.tools_for(caller))

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller, now = await credential(ctx)
        action = _action(params.name)
        if action is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
        return await tools.call(db, caller, now, action, params.arguments or {})

    def schema_of(name: str) -> dict[str, Any] | None:
        action = _action(name)
        return None if action is None else tools.input_schema(action)

    return Server(
        "bookd",
        version=bookd.__version__,
        instructions=tools.INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=schema_of,
        # The list depends on the credential: a client may not keep it, nor share it.
        cache_hints={"tools/list": CacheHint(ttl_ms=0, scope="private")},
    )


def _action(name: str) -> ActionName | None:
    try:
        return ActionName(name)
    except ValueError:
        return None


def refused(exc: BookdError) -> MCPError:
    """A refused credential as a protocol error: the message the API answers, its error as data."""
    return MCPError(CREDENTIAL_REFUSED, exc.message, exc.body())


class HttpEndpoint:
    """`/mcp`: streamable HTTP, stateless and answering JSON, so that any `bookd serve` process
    answers any request (nothing of a client is kept between requests).

    Each request's bearer token is checked before its body is read, as on `/v1`; a refusal is
    the API's 401 carrying a JSON-RPC error that the SDK's clients surface (code
    `CREDENTIAL_REFUSED`, the API's message, its error as data). The MCP SDK's DNS-rebinding
    guard (a check of Host and Origin) is left off: it protects servers without credentials
    from web pages, and every request here carries a token a web page does not have.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.server = build_server(db, self._caller)
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The SDK's session manager, for the app's lifetime (a manager runs once: a new one for
        each start)."""
        self.manager = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=True, security_settings=None
        )
        try:
            async with self.manager.run():
                yield
        finally:
            self.manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "POST":
            # Stateless: no stream to open (GET) and no session to end (DELETE).
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        try:
            await authenticate(request)
        except BookdError as exc:
            body = {
                "jsonrpc": "2.0",
                "id": None,
                "error": refused(exc).error.model_dump(mode="json", exclude_none=True),
            }
            headers = {"WWW-Authenticate": "Bearer"}
            await JSONResponse(body, exc.status_code, headers)(scope, receive, send)
            return
        if self.manager is None:
            raise RuntimeError("the MCP endpoint is served only while the app runs")
        await self.manager.handle_request(scope, receive, send)
        check: KeyCheck = request.state.key_check
        if check.record_use_of is not None:
            await record_key_use(self.db, check.record_use_of, request.state.now)

    @staticmethod
    async def _caller(ctx: ServerRequestContext[Any, Any]) -> tuple[Caller, datetime]:
        # The transport hands on the request `__call__` authenticated (the same ASGI scope).
        request = ctx.request
        if not isinstance(request, Request):
            raise RuntimeError("an MCP request over HTTP without its HTTP request")
        check: KeyCheck = request.state.key_check
        now: datetime = request.state.now
        return check.caller, now


async def serve_stdio(db: Database, token: str, clock: Clock) -> None:
    """Serve the tools on stdin and stdout until the client closes stdin, acting with `token`
    (an API key or a customer token). The token is checked once before serving (a bad one
    stops here, with 401's message) and again at every request."""

    async def caller(_ctx: ServerRequestContext[Any, Any] | None) -> tuple[Caller, datetime]:
        now = clock()
        try:
            check = await identify(db, token, now)
        except BookdError as exc:
            raise refused(exc) from None
        if check.record_use_of is not None:
            await record_key_use(db, check.record_use_of, now)
        return check.caller, now

    await identify(db, token, clock())
    server = build_server(db, caller)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
