"""NDJSON on the wire, and tying upstream work to the client connection.

A client that goes away must cancel the upstream request: for streams, the body iterator is closed
(shielded, so its `finally` really runs and closes the upstream response) whichever way the stream ends;
for non-stream requests, the work races the client's `http.disconnect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Send

from frontier import fastjson

T = TypeVar("T")
NDJSON = "application/x-ndjson"


def ndjson_line(obj: Any) -> bytes:
    """One JSON object and a newline: no SSE `data:` prefix, no blank lines."""
    return fastjson.dumps(obj) + b"\n"


class ClosingStreamingResponse(StreamingResponse):
    """StreamingResponse that always closes its body iterator, even when the client disconnects while the
    iterator is parked at a `yield` (Starlette only cancels the task then; the generator would linger)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers, media_type=media_type)
        self._iterator = content
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        try:
            await self._stream(send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                if self._on_close is not None:
                    await self._on_close()

    async def _stream(self, send: Send) -> None:
        await super().stream_response(send)


class NdjsonResponse(ClosingStreamingResponse):
    """A stream of objects, each sent as one NDJSON line as it comes. The lines are encoded here rather than by
    a generator in front of Starlette's loop: one generator level fewer for every streamed token."""

    def __init__(
        self, lines: AsyncIterator[dict[str, Any]], on_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(lines, media_type=NDJSON, on_close=on_close)  # type: ignore[arg-type]
        self._lines = lines

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for line in self._lines:
            await send({"type": "http.response.body", "body": ndjson_line(line), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def ndjson_response(
    lines: AsyncIterator[dict[str, Any]], on_close: Callable[[], Awaitable[None]] | None = None
) -> NdjsonResponse:
    """`on_close` runs however the response ends, even if the stream never started."""
    return NdjsonResponse(lines, on_close)
