"""The load generator used when `wrk` is missing: asyncio + httpx, CONNECTIONS requests in flight,
the same bodies as bench/load.lua (BENCH_NEW_SHARE of them for bot users never seen before). Prints the same `BENCH {...}` line.
`python -m bench.loadgen URL CONNECTIONS SECONDS`."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime

import httpx

BASE = 1924992000


# Names of bot users no run has used: this process's own prefix and a count.
RUN = os.urandom(4).hex()


def body(rng: random.Random, users: int, new_share: float, number: int) -> bytes:
    start = datetime.fromtimestamp(BASE + rng.randrange(365 * 24 * 60) * 60, UTC)
    ns = f"new-{RUN}-{number}" if rng.random() < new_share else f"user-{rng.randrange(users)}"
    return json.dumps(
        {
            "service_uid": "svc-0",
            "bot_user_ns": ns,
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "location": "Room 1",
            "source": "bench",
            "metadata": '{"channel":"telegram"}',
        }
    ).encode()


async def main(url: str, connections: int, seconds: float) -> None:
    key = os.environ.get("BENCH_API_KEY", "")
    users = int(os.environ.get("BENCH_USERS", "500"))
    # The share of requests that are a bot user's first booking.
    new_share = float(os.environ.get("BENCH_NEW_SHARE", "0"))
    sent_count = 0
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    began = time.perf_counter()
    deadline = began + seconds

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def loop(n: int) -> None:
            nonlocal errors, sent_count
            rng = random.Random(f"{RUN}-{n}")
            while time.perf_counter() < deadline:
                sent_count += 1
                content = body(rng, users, new_share, sent_count)
                sent = time.perf_counter()
                response = await client.post("/v1/bookings", content=content, headers=headers)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 201:
                    errors += 1

        await asyncio.gather(*(loop(n) for n in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6)

    print(
        "BENCH "
        + json.dumps(
            {
                "requests": len(latencies),
                "duration_us": int(elapsed * 1e6),
                "status_errors": errors,
                "socket_errors": 0,
                "p50_us": pct(0.5),
                "p99_us": pct(0.99),
                "max_us": int(latencies[-1] * 1e6),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
