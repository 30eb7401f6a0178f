"""The console's routes, gathered for `app.py`, and its static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from bookd.console import (
    account_pages,
    booking_pages,
    catalog_pages,
    overview_pages,
    settings_pages,
    trigger_pages,
)

STATIC = Path(__file__).parent / "static"


ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        account_pages,
        overview_pages,
        catalog_pages,
        booking_pages,
        trigger_pages,
        settings_pages,
    )
)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console-static", StaticFiles(directory=STATIC), name="console-static")
