"""Clients that send slowly, too much or without a key, against a real `bookd serve` on each
database: none of them holds a transaction, the SQLite write lock or a connection of the pool,
and none grows the process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bookd.app import create_app
from bookd.config import Settings
from bookd.kit.db import Database
from bookd.workspaces import service as workspaces
from tests import databases, sizes
from tests.conftest import BACKENDS
from tests.processes import bookd_env, serving

# The hold: 30 s in `make soak`, 7 s in `make test`; a reminder falls due every SPACING seconds.
HOLD_SECONDS = sizes.size(7, 30)
SPACING = sizes.size(3, 5)
HOLDERS = 10  # as many as the PostgreSQL pool has connections
SERVICE = {"name": "S", "service_uid": "s", "default_duration": 30}


def open_request(base: str, head: str, body: bytes = b"") -> socket.socket:
    """A request whose head (and `body`, maybe only part of what it announces) has been sent."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def post_head(path: str, length: int | None, *headers: str, chunked: bool = False) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return "\n".join(lines) + "\n"


def answer(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """The status and what arrived of the answer within `timeout` (0: nothing arrived)."""
    sock.settimeout(timeout)
    data = rest = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except TimeoutError:
        pass
    if not data:
        return 0, b""
    return int(data.split(b" ")[1]), rest


def rss_kib(base: str) -> int:
    """The resident memory of the `bookd serve` listening at `base`."""
    port = base.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and port.encode() in args:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    raise AssertionError(f"no bookd serve on port {port}")


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Server:
    """A `bookd serve` of this module's tests on one backend: a body must arrive within 1 s, and
    /metrics answers the bearer of `metrics_token`."""

    base: str
    url: str
    metrics_token: str

    def new_key(self) -> str:
        """A new workspace's API key, so that a test sees only what it wrote."""
        return asyncio.run(_new_workspace_key(self.url))


async def _new_workspace_key(url: str) -> str:
    db = Database(url, pool_size=1)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            workspace = await workspaces.create_workspace(session, "hostile", "UTC", now)
            return (await workspaces.issue_api_key(session, workspace.id, now)).key
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per backend for the tests that need no settings of their own."""
    folder = tmp_path_factory.mktemp("hostile")
    if request.param == "sqlite":
        url = databases.new_sqlite(folder / "bookd.db")
    else:
        url = databases.new_postgres("bookd_hostile")
    token = secrets.token_urlsafe(16)
    env = bookd_env(url, BOOKD_BODY_TIMEOUT_SECONDS="1", BOOKD_METRICS_TOKEN=token)
    try:
        with serving(folder, env) as base:
            yield Server(base, url, token)
    finally:
        if request.param == "postgresql":
            databases.drop_postgres(url)


@pytest.mark.soak
def test_half_sent_bodies_hold_no_writer_and_no_connection(
    scratch_url: str, tmp_path: Path
) -> None:
    """Ten clients sit on half-sent bodies for 30 s: five with a valid API key, five signing in
    to the console. Every other client's writes answer within a second meanwhile, the scheduler
    sends each reminder on time, and a client with a bad key is refused before its body. (A held
    writer would wait the minute of the body timeout: `make test`, on a busy machine, allows 10 s
    for a write and a reminder's lateness, `make soak` holds the 1 s and 3 s.)"""
    key = asyncio.run(_new_workspace_key(scratch_url))
    env = bookd_env(scratch_url, BOOKD_BODY_TIMEOUT_SECONDS="60")
    with (
        serving(tmp_path, env) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api,
    ):
        assert api.post("/v1/services", json=SERVICE).status_code == 201
        reminder = {"title": "soon", "minutes": 1}
        assert api.post("/v1/services/s/reminders", json=reminder).status_code == 201
        # A reminder a minute before each start: one falls due every SPACING seconds of the hold.
        began = datetime.now(UTC).replace(microsecond=0)
        due = [
            began + timedelta(seconds=SPACING * (i + 1)) for i in range(HOLD_SECONDS // SPACING - 1)
        ]
        for i, at in enumerate(due):
            booking = {
                "service_uid": "s",
                "bot_user_ns": f"due-{i}",
                "start_time": iso(at + timedelta(minutes=1)),
            }
            assert api.post("/v1/bookings", json=booking).status_code == 201

        holders = [
            open_request(
                base,
                post_head(
                    "/v1/actions/list_booking_services",
                    10,
                    f"Authorization: Bearer {key}",
                    "Content-Type: application/json",
                ),
                b"{",
            )
            for _ in range(HOLDERS // 2)
        ] + [
            open_request(
                base,
                post_head("/sign-in", 40, "Content-Type: application/x-www-form-urlencoded"),
                b"email=a",
            )
            for _ in range(HOLDERS - HOLDERS // 2)
        ]
        unknown = open_request(
            base,
            post_head("/v1/bookings", 1000, "Authorization: Bearer bk_wrong", "Content-Type: x"),
        )
        status, body = answer(unknown, timeout=5)
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
        unknown.close()

        slowest, writes = 0.0, 0
        while (datetime.now(UTC) - began).total_seconds() < HOLD_SECONDS:
            writes += 1
            for method, path, payload in (
                ("PATCH", "/v1/services/s", {"name": f"S {writes}"}),
                (
                    "POST",
                    "/v1/bookings",
                    {
                        "service_uid": "s",
                        "bot_user_ns": f"new-{writes}",
                        "start_time": iso(began + timedelta(days=1, minutes=writes)),
                    },
                ),
            ):
                started = time.monotonic()
                response = api.request(method, path, json=payload)
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code in (200, 201), response.text
            time.sleep(0.3)

        # The holders were never answered: the server is still waiting for their bodies.
        for sock in holders:
            assert answer(sock, timeout=0.01) == (0, b"")
            sock.close()
        assert writes >= HOLD_SECONDS * 2 // 3
        assert slowest < sizes.size(10.0, 1.0), f"a write took {slowest:.2f} s"

        sent = api.get("/v1/events", params={"type": "REMINDER_SENDING", "limit": 50}).json()
        times = sorted(
            datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) for e in sent["data"]
        )
        assert len(times) == len(due)
        for at, occurred in zip(due, times, strict=True):
            late = timedelta(seconds=sizes.size(10, 3))
            assert timedelta(0) <= occurred - at < late, (at, occurred)


def test_a_body_too_slow_is_refused_with_408(server: Server) -> None:
    key, base = server.new_key(), server.base
    api_head = post_head(
        "/v1/services", 40, f"Authorization: Bearer {key}", "Content-Type: application/json"
    )
    sock = open_request(base, api_head, b'{"name": "slow"')
    status, body = answer(sock, timeout=10)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "body_timeout"

    form = post_head("/sign-in", 40, "Content-Type: application/x-www-form-urlencoded")
    with open_request(base, form, b"email=") as sock:
        status, page = answer(sock, timeout=10)
    assert status == 408 and b"<html" in page.lower()

    # Nothing was written by the slow request.
    services = httpx.get(f"{base}/v1/services", headers={"Authorization": f"Bearer {key}"})
    assert services.json()["data"] == []


def test_a_large_body_is_refused_before_it_is_read(server: Server) -> None:
    """24 MB announced or streamed: 413 at once, and the server's memory stays where it was."""
    key, base = server.new_key(), server.base
    auth = f"Authorization: Bearer {key}"
    extra = b"{" + b",".join(b'"extra_key%07d": 0' % i for i in range(1_250_000)) + b"}"
    assert len(extra) > 24_000_000
    assert httpx.get(f"{base}/healthz").status_code == 200
    before = rss_kib(base)

    for head in (
        post_head("/v1/services", len(extra), auth, "Content-Type: application/json"),
        post_head("/v1/services", len(extra), "Content-Type: application/json"),
        post_head("/sign-in", len(extra), "Content-Type: application/x-www-form-urlencoded"),
    ):
        sock = open_request(base, head)
        sender = Sender(sock, extra)
        sender.start()
        status, body = answer(sock, timeout=10)
        sent_by_then = sender.sent
        sock.close()
        sender.join(timeout=10)
        assert status == 413, body[:200]
        assert json.loads(body)["error"]["code"] == "body_too_large"
        # Answered before the body was read: most of it had not even left the client.
        assert sent_by_then < len(extra) // 2, f"413 after {sent_by_then} bytes were sent"

    # Without a Content-Length the count stops at the limit.
    sock = open_request(base, post_head("/v1/services", None, auth, chunked=True))
    sender = threading.Thread(target=_send_chunked, args=(sock, extra), daemon=True)
    sender.start()
    status, body = answer(sock, timeout=10)
    sock.close()
    sender.join(timeout=10)
    assert status == 413, body[:200]

    grown = rss_kib(base) - before
    assert grown < 20 * 1024, f"the server grew by {grown} KiB"
    assert httpx.get(f"{base}/healthz").status_code == 200
    listed = httpx.get(f"{base}/v1/services", headers={"Authorization": f"Bearer {key}"})
    assert listed.json()["data"] == []


class Sender(threading.Thread):
    """Sends `data` in pieces, counting what the socket took, until done or refused."""

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.sent = sock, data, 0

    def run(self) -> None:
        with contextlib.suppress(OSError):  # the server refused the body and closed
            for at in range(0, len(self.data), 65536):
                self.sock.sendall(self.data[at : at + 65536])
                self.sent = at + 65536


def _send_chunked(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        for at in range(0, len(data), 65536):
            piece = data[at : at + 65536]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")


def test_validation_errors_list_at_most_twenty_problems(server: Server) -> None:
    key, base = server.new_key(), server.base
    body = {**SERVICE, **{f"extra_{i}": i for i in range(20_000)}}
    response = httpx.post(
        f"{base}/v1/services",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert len(error["details"]) == 20
    assert "problems; the first 20 are listed" in error["message"]
    assert len(response.content) < 10_000


def test_metrics_are_not_served_without_a_token(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, db_pool_size=0))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


def test_metrics_only_with_their_token(server: Server) -> None:
    base, token = server.base, server.metrics_token
    assert httpx.get(f"{base}/metrics").status_code == 401
    wrong = {"Authorization": "Bearer not-it"}
    assert httpx.get(f"{base}/metrics", headers=wrong).status_code == 401
    right = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200 and "bookd_scheduler" in right.text
