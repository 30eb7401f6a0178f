"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers with the
statuses a test queues (200 once the queue is empty). Answers can also be queued for one path only,
so requests for other paths (another trigger, a stray retry of another test) cannot take them.

A path can be given a misbehaviour instead (`serve`): an answer held back for a while (`Hold`),
a body dripped a byte at a time (`Drip`), or a huge body (`Flood`). Each request records when it
arrived and, once its handler is done with it (answered, or the sender hung up), `done` is set."""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a handler gets when it writes to a sender that has hung up.
HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (`time.monotonic()`)."""
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    """Set when its handler has finished: the answer written, or the sender gone."""
    sent: int = 0
    """Bytes of the answer's body written (those of a misbehaving path)."""


@dataclass(frozen=True)
class Hold:
    """Answer (as usual) only after `seconds`, or sooner at `Receiver.release()`."""

    seconds: float


@dataclass(frozen=True)
class Drip:
    """Send the status line and headers of a `count`-byte answer at once, then its body one byte
    every `every` seconds; stop at the first write after the sender hangs up."""

    every: float = 0.3
    count: int = 200
    status: int = 200


@dataclass(frozen=True)
class Flood:
    """Answer `status` with a body of `size` bytes, written over and over from one preallocated
    chunk (the receiver does not grow); stop when the sender hangs up."""

    status: int
    size: int
    chunk: bytes = field(default=b"x" * 65536, repr=False)


Behaviour = Hold | Drip | Flood


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    path_answers: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    # Set by `release` (held answers go out) and by `close` (drips and floods stop too).
    released: threading.Event = field(default_factory=threading.Event)
    closing: threading.Event = field(default_factory=threading.Event)
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

    def serve(self, name: str, behaviour: Behaviour) -> None:
        """Misbehave so on `self.path(name)` from now on."""
        with self.lock:
            self.behaviours[self.path(name)] = behaviour

    def release(self) -> None:
        """Send every held answer now, and those of later requests at once."""
        self.released.set()

    def at(self, name: str) -> list[Received]:
        """The requests that came to `self.path(name)`."""
        with self.lock:
            return [r for r in self.requests if r.path == self.path(name)]

    def open_at(self, name: str) -> int:
        """How many requests to `self.path(name)` are still being handled (held, dripping)."""
        return sum(1 for r in self.at(name) if not r.done.is_set())

    def close(self) -> None:
        self.closing.set()
        self.released.set()
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
            request = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, raw.decode()
            )
            with receiver.lock:
                receiver.requests.append(request)
                behaviour = receiver.behaviours.get(self.path)
            try:
                if isinstance(behaviour, Drip):
                    self.drip(request, behaviour)
                elif isinstance(behaviour, Flood):
                    self.flood(request, behaviour)
                else:
                    if isinstance(behaviour, Hold):
                        receiver.released.wait(behaviour.seconds)
                    self.answer()
            except HUNG_UP:
                self.close_connection = True
            finally:
                request.done.set()

        def answer(self) -> None:
            with receiver.lock:
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

        def drip(self, request: Received, drip: Drip) -> None:
            self.send_response(drip.status)
            self.send_header("content-length", str(drip.count))
            self.end_headers()  # the status line and headers go out now
            self.close_connection = True
            while request.sent < drip.count and not receiver.closing.wait(drip.every):
                self.wfile.write(b".")  # raises once the sender has hung up
                request.sent += 1

        def flood(self, request: Received, flood: Flood) -> None:
            self.send_response(flood.status)
            self.send_header("content-length", str(flood.size))
            self.end_headers()
            self.close_connection = True
            view = memoryview(flood.chunk)
            while request.sent < flood.size and not receiver.closing.is_set():
                part = view[: flood.size - request.sent]
                self.wfile.write(part)  # raises once the sender has hung up
                request.sent += len(part)

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return receiver
