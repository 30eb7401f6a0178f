"""The ASGI application: routers, error mapping, the database and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import bookd
from bookd.actions.endpoints import router as actions_router
from bookd.availability.endpoints import router as availability_router
from bookd.bookings.endpoints import CreationLane
from bookd.bookings.endpoints import router as bookings_router
from bookd.calendars.endpoints import router as calendars_router
from bookd.catalog.endpoints import router as services_router
from bookd.config import Settings
from bookd.console.endpoints import install as install_console
from bookd.events.endpoints import router as events_router
from bookd.kit.clock import Clock, system_now
from bookd.kit.db import Database
from bookd.kit.web import install_error_handlers
from bookd.scheduling.endpoints import router as scheduler_router
from bookd.webhooks.endpoints import router as webhooks_router
from bookd.worker import Worker
from bookd.workspaces.endpoints import router as bot_users_router

DESCRIPTION = """\
bookd keeps bookings, sends their reminders and follow-ups on time and reports every change as an
event. Every `/v1` call needs `Authorization: Bearer <API key>`; the key decides the workspace.
Errors answer `{"error": {"code", "message", "details"}}`.
"""


def create_app(
    settings: Settings | None = None, *, clock: Clock = system_now, run_worker: bool = False
) -> FastAPI:
    """The API and the admin console; with `run_worker`, the scheduler runs in the same process (`bookd serve`)."""
    settings = settings or Settings.from_env()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = (
            asyncio.create_task(Worker(db, settings, clock=clock).run(stop)) if run_worker else None
        )
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await db.dispose()

    app = FastAPI(
        title="bookd", version=bookd.__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock
    install_error_handlers(app)
    for router in (
        services_router,
        availability_router,
        scheduler_router,
        # Before the bookings: `/v1/bookings/{id}.ics` would otherwise match `/v1/bookings/{id}`.
        calendars_router,
        bookings_router,
        bot_users_router,
        events_router,
        webhooks_router,
        actions_router,
    ):
        app.include_router(router)

    install_console(app)
    app.add_middleware(CreationLane)

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
