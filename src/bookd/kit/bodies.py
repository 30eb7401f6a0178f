"""A request body's two limits, its size and its deadline, enforced as it arrives.

A route reads the whole body before it opens its transaction (`kit.web.UnitOfWorkRoute`), so no
transaction, and on SQLite no write lock, ever waits for a client's bytes; these limits bound
that wait and what it costs.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookd.kit.errors import BodyTimeout, BodyTooLarge, BookdError
from bookd.kit.web import error_response


class BodyLimits:
    """ASGI middleware. A body longer than `max_bytes` is refused with 413: before any of it is
    read when its Content-Length says so, else as soon as that many bytes have come. A body not
    all there `timeout` seconds after the request began is refused with 408.

    A refusal is raised from `receive`, so the route that is reading answers it in its own shape
    (JSON for the API, a page for the console); one raised where no route is reading is answered
    here, in the API's shape."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _refuse(scope, receive, send, self.too_large())
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, self._limited(receive), sending)
        except (BodyTooLarge, BodyTimeout) as exc:
            if started:
                raise
            await _refuse(scope, receive, send, exc)

    def too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the request body is larger than {self.max_bytes} bytes",
            [{"field": "body", "code": "body_too_large", "message": "too large"}],
        )

    def _limited(self, receive: Receive) -> Receive:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:
                # Past the body only a disconnect can come, which a response may wait for.
                return await receive()
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    f"the request body did not arrive within {self.timeout:g} seconds",
                    [{"field": "body", "code": "body_timeout", "message": "sent too slowly"}],
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.too_large()
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return limited


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BookdError) -> None:
    response = error_response(exc.status_code, exc.code, exc.message, exc.details)
    # The rest of the body is not read: the connection cannot carry another request.
    response.headers["connection"] = "close"
    await response(scope, receive, send)
