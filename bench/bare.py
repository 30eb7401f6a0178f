"""The baseline endpoint: bare Starlette + asyncpg. Parses the same JSON body as bookd's
`POST /v1/bookings` and does one INSERT into the same `bookings` table, served by uvicorn the way
`bookd serve` is. Run as `python -m bench.bare URL PORT`."""

from __future__ import annotations

import json
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

INSERT = """
INSERT INTO bookings (workspace_id, service_id, bot_user_id, status, start_time, end_time,
  duration, location, source, metadata, notes, reschedule_count, version, created_at, updated_at)
VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, '', 0, 1, $10, $10)
RETURNING id
"""


def make_app(url: str) -> Starlette:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        state["pool"] = await asyncpg.create_pool(url, min_size=10, max_size=10)
        async with state["pool"].acquire() as conn:
            row = await conn.fetchrow(
                "SELECT s.id, s.workspace_id, s.default_duration, "
                "(SELECT min(id) FROM bot_users u WHERE u.workspace_id = s.workspace_id) AS bot "
                "FROM booking_services s ORDER BY s.id LIMIT 1"
            )
        state["service"] = row
        yield
        await state["pool"].close()

    async def create(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("bot_user_ns"), str):
            return JSONResponse({"error": "invalid"}, status_code=422)
        start = datetime.fromisoformat(body["start_time"]).astimezone(UTC)
        service = state["service"]
        duration = int(body.get("duration") or service["default_duration"])
        now = datetime.now(UTC)
        async with state["pool"].acquire() as conn:
            booking_id = await conn.fetchval(
                INSERT,
                service["workspace_id"],
                service["id"],
                service["bot"],
                start,
                start + timedelta(minutes=duration),
                duration,
                body.get("location", ""),
                body.get("source", ""),
                body.get("metadata"),
                now,
            )
        return JSONResponse(
            {
                "id": booking_id,
                "service_uid": body.get("service_uid"),
                "bot_user_ns": body["bot_user_ns"],
                "status": "pending",
                "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            status_code=201,
        )

    return Starlette(routes=[Route("/v1/bookings", create, methods=["POST"])], lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="info")
