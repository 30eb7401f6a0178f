"""The ASGI application: routers, error mapping, the database and the clock."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

import bookd
from bookd.actions.endpoints import router as actions_router
from bookd.agents.server import HttpEndpoint as McpEndpoint
from bookd.analytics.endpoints import router as analytics_router
from bookd.availability.endpoints import router as availability_router
from bookd.bookings.endpoints import router as bookings_router
from bookd.bookings.endpoints import services_router as slots_router
from bookd.calendars.endpoints import router as calendars_router
from bookd.catalog.endpoints import router as services_router
from bookd.config import Settings
from bookd.console.endpoints import install as install_console
from bookd.events.endpoints import router as events_router
from bookd.hosts.endpoints import router as hosts_router
from bookd.hosts.endpoints import services_router as service_hosts_router
from bookd.kit.bodies import BodyLimits
from bookd.kit.clock import Clock, system_now
from bookd.kit.db import Database
from bookd.kit.docs import install as install_docs
from bookd.kit.errors import NotFound, Unauthorized
from bookd.kit.http import install as install_http
from bookd.kit.web import install_error_handlers
from bookd.scheduling.endpoints import router as scheduler_router
from bookd.selfservice.endpoints import install as install_selfservice
from bookd.webhooks.endpoints import router as webhooks_router
from bookd.worker import Worker
from bookd.workspaces.endpoints import router as bot_users_router
from bookd.workspaces.endpoints import tokens_router as customer_tokens_router

DESCRIPTION = """\
bookd keeps bookings, sends their reminders and follow-ups on time and reports every change as an
event. Every `/v1` call needs `Authorization: Bearer <API key>`; the key decides the workspace.
A customer token (`bkc_…`, from `POST /v1/customer-tokens`) in its place sees and acts on one bot
user's bookings only; what is for staff answers it 403. Errors answer
`{"error": {"code", "message", "details"}}`.
"""


def create_app(
    settings: Settings | None = None, *, clock: Clock = system_now, run_worker: bool = False
) -> FastAPI:
    """The API and the admin console; with `run_worker`, the scheduler runs in the same process (`bookd serve`)."""
    settings = settings or Settings.from_env()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    mcp = McpEndpoint(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = (
            asyncio.create_task(Worker(db, settings, clock=clock).run(stop)) if run_worker else None
        )
        try:
            async with mcp.running():
                yield
        finally:
            stop.set()
            if task is not None:
                await task
            await db.dispose()

    app = FastAPI(
        title="bookd",
        version=bookd.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs: the pages without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock
    install_error_handlers(app)
    install_http(app)
    install_docs(app)
    for router in (
        services_router,
        availability_router,
        hosts_router,
        service_hosts_router,
        slots_router,
        scheduler_router,
        # Before the bookings: `/v1/bookings/{id}.ics` would otherwise match `/v1/bookings/{id}`.
        calendars_router,
        bookings_router,
        bot_users_router,
        customer_tokens_router,
        events_router,
        analytics_router,
        webhooks_router,
        actions_router,
    ):
        app.include_router(router)

    install_console(app)
    install_selfservice(app)
    # MCP over streamable HTTP: AI agents use the actions as tools (`bookd.agents`).
    app.router.routes.append(Route("/mcp", mcp, include_in_schema=False))
    # Outermost: every body arrives within its limits.
    app.add_middleware(
        BodyLimits, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_seconds
    )

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics, only to the bearer of BOOKD_METRICS_TOKEN (without it, not here:
        `bookd worker --metrics-port` serves them on a port of its own)."""
        if not settings.metrics_token:
            raise NotFound("metrics are not served here: set BOOKD_METRICS_TOKEN")
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            raise Unauthorized("metrics need Authorization: Bearer <BOOKD_METRICS_TOKEN>")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
