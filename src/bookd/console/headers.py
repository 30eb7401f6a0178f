"""The security headers of every console answer: pages, refusals, redirects, errors and static
files alike, whichever code made the answer. An ASGI middleware, so that no route can forget them.

The API (`/v1`, the health and metrics endpoints, the OpenAPI docs) is left as it is: its answers
are JSON, and its interactive docs load scripts and styles a console policy would refuse.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookd.console.web import error_page

# Only the console's own files: no inline script, no inline <style>, nothing from elsewhere, no
# framing. Inline `style` attributes are allowed: a few templates set one (an attribute cannot
# run script); a policy without them would need those moved into console.css.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    # For browsers that predate `frame-ancestors`.
    "x-frame-options": "DENY",
    # Console URLs name bookings and services: other sites do not learn them from a link.
    "referrer-policy": "same-origin",
}
# Pages show a workspace's data and secrets shown once (API keys, passwords): never stored by the
# browser or a proxy. Static files may be kept, and are revalidated on each use (their URLs carry
# no version, so an upgrade must not leave an old stylesheet in use).
PAGE_CACHE = "no-store"
STATIC_CACHE = "no-cache"


class ConsoleHeaders:
    """Adds `HEADERS` and a Cache-Control to the answers of the console's paths: those whose first
    segment is one of `sections` ("" for `/`); `static` ones may be cached.

    An exception that escapes the app on a console path is answered here, as the console's error
    page with these headers (the server's own answer would be plain text without them), and
    raised again for the server to log.
    """

    def __init__(self, app: ASGIApp, *, sections: frozenset[str], static: frozenset[str]) -> None:
        self.app = app
        self.sections = sections
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        section = scope["path"].split("/", 2)[1] if scope["path"].startswith("/") else None
        if section not in self.sections:
            await self.app(scope, receive, send)
            return
        cache = STATIC_CACHE if section in self.static else PAGE_CACHE
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("cache-control", cache)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            page = error_page(500, "Something went wrong on the server: try again later.")
            await page(scope, receive, send_with_headers)
            raise
