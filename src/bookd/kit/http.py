"""What every route answers alike, whatever the framework leaves out: HEAD as GET without the body,
and a path with a missing or extra trailing slash redirected without trusting the Host header.

The Host header is whatever a client sends. bookd builds a URL for others to follow from
BOOKD_PUBLIC_URL (`public_url`); without it, a URL made from Host goes only into the answer to the
request that sent it, never into anything stored or shown to someone else, and the slash redirect
carries a path alone (a relative reference, RFC 9110 §10.2.2), which no Host can point elsewhere.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What may stay as it is in a path; everything else, a backslash among it, is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;="


def public_url(app: Any) -> str:
    """BOOKD_PUBLIC_URL (without a trailing slash), or "" when it is not set."""
    value: str = app.state.settings.public_url
    return value


def public_base(request: Request) -> str:
    """The URL bookd's root is reached at: BOOKD_PUBLIC_URL, or else this request's own (from its
    Host: fit only for the answer to this very request)."""
    return public_url(request.app) or str(request.base_url).rstrip("/")


def install(app: FastAPI) -> None:
    """HEAD on every GET route, and the trailing-slash redirect of `SlashRedirect`."""
    router = app.router
    router.redirect_slashes = False
    router.default = SlashRedirect(app, router.default)
    app.add_middleware(HeadAsGet)


class SlashRedirect:
    """The router's answer to a path no route takes: a redirect to the same path with the trailing
    slash added or removed when a route takes that one (Starlette's `redirect_slashes`, which
    builds an absolute URL from Host), otherwise `not_found`."""

    def __init__(self, app: FastAPI, not_found: ASGIApp) -> None:
        self.app = app
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        route_path = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        # "//host/..." would be a reference to another host: never redirect to one.
        if scope["type"] == "http" and route_path != "/" and not route_path.startswith("//"):
            other = route_path.rstrip("/") if route_path.endswith("/") else route_path + "/"
            if other and self._taken(scope, root_path + other):
                location = quote(other, safe=_PATH_SAFE)
                location = (public_url(self.app) or root_path) + location
                if scope.get("query_string"):
                    location += "?" + scope["query_string"].decode("latin-1")
                await RedirectResponse(location)(scope, receive, send)
                return
        await self.not_found(scope, receive, send)

    def _taken(self, scope: Scope, path: str) -> bool:
        probe = dict(scope)
        probe["path"] = path
        return any(route.matches(probe)[0] is not Match.NONE for route in self.app.router.routes)


class HeadAsGet:
    """HEAD is answered as GET is (status and headers, Content-Length and Content-Type among
    them), without the body: routes are declared for GET alone and would answer HEAD with 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        # The server keeps its own scope, which still says HEAD: it sends no body either way.
        await self.app({**scope, "method": "GET"}, receive, headers_only)
