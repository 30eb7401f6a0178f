"""The MCP server's two doors: `/mcp` in the app (and in a real `bookd serve`), and `bookd mcp`
on stdio; both refuse what the API refuses before anything else."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bookd.agents.server import CREDENTIAL_REFUSED
from tests.agents.support import TOOLS
from tests.conftest import Api
from tests.processes import BOOKD, bookd_env, new_api_key, serving

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer bk_unknown", "Bearer bkc_unknown", "Basic x"]
)
def test_mcp_over_http_refuses_a_missing_or_bad_credential_as_the_api_does(
    api: Api, authorization: str | None
) -> None:
    headers = {**ACCEPT, **({"Authorization": authorization} if authorization else {})}
    answer = api.client.post("/mcp", json=LIST_TOOLS, headers=headers)
    rest = api.client.get("/v1/bookings", headers=headers)
    assert answer.status_code == rest.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    # A JSON-RPC error the MCP clients surface, carrying the API's error.
    assert answer.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": CREDENTIAL_REFUSED,
            "message": rest.json()["error"]["message"],
            "data": rest.json(),
        },
    }


def test_mcp_over_http_takes_only_posts(api: Api) -> None:
    for method in ("GET", "DELETE", "PUT"):
        answer = api.request(method, "/mcp", headers=ACCEPT)
        assert answer.status_code == 405, method
        assert answer.headers["allow"] == "POST"
    # A plain JSON-RPC POST works too (stateless: no session to open first).
    listed = api.post("/mcp", LIST_TOOLS, headers=ACCEPT)
    assert listed.status_code == 200, listed.text
    assert [tool["name"] for tool in listed.json()["result"]["tools"]] == TOOLS


def test_bookd_mcp_needs_a_valid_credential_to_start(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    for env, says in [
        ({}, "set BOOKD_MCP_TOKEN"),
        ({"BOOKD_MCP_TOKEN": "bk_unknown"}, "the API key is not valid"),
        ({"BOOKD_MCP_TOKEN": "bkc_unknown"}, "the customer token is not valid"),
    ]:
        done = subprocess.run(
            [str(BOOKD), "mcp"],
            cwd=tmp_path,
            env=bookd_env(database_url, **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, (env, done.stderr)
        assert says in done.stderr
        assert done.stdout == ""  # stdout is the protocol's


async def _use(url: str, key: str, mode: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=auth) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as mcp,
    ):
        tools = await mcp.list_tools()
        answer = await mcp.call_tool("list_booking_services", {})
        return {"tools": [t.name for t in tools.tools], "answer": answer.structured_content}


def test_bookd_serve_answers_mcp_at_slash_mcp(scratch_url: str, tmp_path: Path) -> None:
    env = bookd_env(scratch_url)
    with serving(tmp_path, env) as base:
        key = new_api_key(scratch_url, tmp_path)
        for mode in ("auto", "legacy"):
            used = anyio.run(_use, f"{base}/mcp", key, mode)
            assert used == {
                "tools": TOOLS,
                "answer": {"data": [], "next_cursor": None},
            }
