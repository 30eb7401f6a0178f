"""The console's routes, gathered for `app.py`, its static files and the headers of its answers
(`kit.pages.PageHeaders`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from bookd.console import (
    account_pages,
    analytics_pages,
    booking_pages,
    catalog_pages,
    overview_pages,
    settings_pages,
    trigger_pages,
)
from bookd.console.web import error_page
from bookd.kit.pages import PageHeaders, first_segment, sections_of

STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/console-static"
FAVICON_PATH = "/favicon.ico"


ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        account_pages,
        overview_pages,
        catalog_pages,
        booking_pages,
        trigger_pages,
        settings_pages,
        analytics_pages,
    )
)


async def favicon() -> FileResponse:
    # Browsers ask for it at this address whatever the page says.
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="console-static")
    app.add_api_route(FAVICON_PATH, favicon, methods=["GET", "HEAD"], include_in_schema=False)
    static = frozenset(first_segment(p) for p in (STATIC_PATH, FAVICON_PATH))
    sections = sections_of(ROUTERS) | static
    app.add_middleware(PageHeaders, sections=sections, static=static, error=error_page)
