"""The request-body size limit (FRONTIER_MAX_BODY_BYTES) as pure ASGI middleware, for both services.

A declared Content-Length over the limit is refused before a byte is read. A body without one (chunked) is
read here up to the limit and refused as soon as it passes it, so no handler ever buffers more; a body within
the limit is handed on unchanged. Both services read whole JSON bodies anyway, so buffering it here costs
nothing extra.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontier.errors import PayloadTooLargeError

Render = Callable[[PayloadTooLargeError], Response]


def declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, render: Render) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server reads exactly `declared` bytes
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client left; the app sees the disconnect
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.render(PayloadTooLargeError(self.max_bytes))
        # The rest of the body is not read: closing the connection afterwards is the server's business.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
