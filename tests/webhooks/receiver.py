"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers with the
statuses a test queues (200 once the queue is empty). Answers can also be queued for one path only,
so requests for other paths (another trigger, a stray retry of another test) cannot take them."""

from __future__ import annotations

import secrets
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    path_answers: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"/{secrets.token_hex(4)}")

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/hook"

    def path(self, name: str) -> str:
        """A path unique to this receiver (`/<random>/<name>`), for one trigger."""
        return f"{self.prefix}/{name}"

    def url_for(self, name: str) -> str:
        return self.base + self.path(name)

    def answer(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        """Queue answers: for any path, or with `name` for `self.path(name)` alone."""
        with self.lock:
            queue = (
                self.answers
                if name is None
                else self.path_answers.setdefault(self.path(name), deque())
            )
            for _ in range(times):
                queue.append((status, headers or {}))

    def at(self, name: str) -> list[Received]:
        """The requests that came to `self.path(name)`."""
        with self.lock:
            return [r for r in self.requests if r.path == self.path(name)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # Several senders may connect at once; the default backlog of 5 would drop connections.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed mid-request (some tests do that on purpose) resets its connection.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def start_receiver(*, keep_alive: bool = False) -> Receiver:
    """With `keep_alive`, senders may reuse connections (HTTP/1.1): much faster under load."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            if len(raw) < length:
                return  # the sender went away mid-request: nothing was delivered
            body = raw.decode()
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                own = receiver.path_answers.get(self.path)
                if own:
                    status, headers = own.popleft()
                elif own is None and receiver.answers:
                    status, headers = receiver.answers.popleft()
                else:
                    status, headers = 200, {}
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return receiver
