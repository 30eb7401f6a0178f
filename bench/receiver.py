"""The webhook receiver of workload 6, in a process of its own: `python -m bench.receiver --port N`.

It answers every POST with 200 at once (a path ending in `/slow` only after SLOW_SECONDS, the way a
struggling endpoint does) and records, for each, the arrival wall time (`time.time()`, the clock
the due times are on), the path, the `webhook-id` header, the booking id of the body
(`data.booking.id` of the event envelope, None for another shape) and the body's size.

- `GET /count`: `{"requests", "cpu", "paths": {path: {"requests", "bookings"}}}`, cheap enough to
  poll (`bookings`: distinct booking ids, so a redelivery does not count twice; `cpu`: this
  process's CPU seconds so far, for its own cost per request);
- `GET /results`: every record, column by column;
- `POST /reset`: forget them.

It is measured too (workload 6 reports its CPU time per request), because it must not be what
limits the delivery rate: per request, a timestamp, a header, one orjson parse and appends to
column lists; no access log; on uvloop. About 100 µs of CPU a request here: some 10,000 requests
a second on one core (wrk, in C, drove it to 7,700 a second beside itself on the two cores), where
bookd's targets ask for 1,000 to 2,000.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from array import array
from collections import defaultdict
from typing import Any

import orjson
import uvloop
from aiohttp import web

SLOW_SECONDS = 8.0


class Records:
    """Column lists rather than a record object per request: less to allocate per request and
    one orjson call answers /results."""

    def __init__(self) -> None:
        self.times = array("d")
        self.paths: list[str] = []
        self.webhook_ids: list[str | None] = []
        self.bookings: list[int | None] = []
        self.sizes = array("l")
        self.requests: dict[str, int] = defaultdict(int)
        self.seen: dict[str, set[int]] = defaultdict(set)

    def add(self, arrived: float, path: str, webhook_id: str | None, body: bytes) -> None:
        try:
            booking = orjson.loads(body)["data"]["booking"]["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            booking = None
        self.times.append(arrived)
        self.paths.append(path)
        self.webhook_ids.append(webhook_id)
        self.bookings.append(booking)
        self.sizes.append(len(body))
        self.requests[path] += 1
        if booking is not None:
            self.seen[path].add(booking)

    def count(self) -> dict[str, Any]:
        return {
            "requests": len(self.times),
            "cpu": time.process_time(),
            "paths": {
                path: {"requests": n, "bookings": len(self.seen[path])}
                for path, n in self.requests.items()
            },
        }

    def columns(self) -> dict[str, Any]:
        return {
            "time": self.times.tolist(),
            "path": self.paths,
            "webhook_id": self.webhook_ids,
            "booking": self.bookings,
            "size": self.sizes.tolist(),
        }


def make_app() -> web.Application:
    records = Records()

    async def receive(request: web.Request) -> web.Response:
        # The arrival is when the handler starts: the request line and headers are in, and a
        # ~1 KB body comes in the same segment on loopback.
        arrived = time.time()
        body = await request.read()
        records.add(arrived, request.path, request.headers.get("webhook-id"), body)
        if request.path.endswith("/slow"):
            await asyncio.sleep(SLOW_SECONDS)
        return web.Response()

    async def count(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(records.count()), content_type="application/json")

    async def results(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(records.columns()), content_type="application/json")

    async def reset(_request: web.Request) -> web.Response:
        nonlocal records
        records = Records()
        return web.Response()

    app = web.Application(client_max_size=1 << 20)
    # The control routes first: the router takes the first match, and the catch-all takes any POST.
    app.router.add_get("/count", count)
    app.router.add_get("/results", results)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{path:.*}", receive)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    web.run_app(
        make_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        # Slow requests still asleep when the bench stops it are not waited for.
        shutdown_timeout=0.5,
        backlog=1024,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
