"""The self-service page's routes, its stylesheet and the headers of its answers, for `app.py`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from bookd.kit.pages import PageHeaders, first_segment, sections_of
from bookd.selfservice import pages
from bookd.selfservice.web import HEADERS, STATIC, STATIC_PATH, error_page

ROUTERS: tuple[APIRouter, ...] = (pages.router,)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="selfservice-static")
    static = frozenset({first_segment(STATIC_PATH)})
    sections = sections_of(ROUTERS) | static
    app.add_middleware(
        PageHeaders, sections=sections, static=static, error=error_page, headers=HEADERS
    )
