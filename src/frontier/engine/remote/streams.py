"""Bodies read as they arrive from an OpenAI-compatible upstream: SSE events, NDJSON lines, and a raw
passed-through answer. Faults while reading are UpstreamError (through the upstream's `Faults`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from frontier import fastjson
from frontier.engine.remote.faults import Faults, UpstreamError


class LineSplitter:
    """A body's lines as bytes, without their line ends, however the chunks cut them. Plain calls rather than
    an async generator: each streamed token passes through here, and every generator level it crosses costs."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines this chunk completes."""
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return [line.rstrip(b"\r") for line in lines]

    def rest(self) -> list[bytes]:
        """The last line, when the body did not end with a line end."""
        return [self._pending.rstrip(b"\r")] if self._pending else []


class EventStream:
    """An open SSE body: iterate `events()`, then `aclose()` (also on cancellation)."""

    def __init__(self, chunks: AsyncIterator[bytes], close: Callable[[], Any], faults: Faults) -> None:
        self._chunks = chunks
        self._close = close
        self._faults = faults
        self.completed = False  # saw `data: [DONE]`
        self._event_type = ""  # the `event:` field of the event being read

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        splitter = LineSplitter()
        with self._faults:
            async for chunk in self._chunks:
                for line in splitter.feed(chunk):
                    if (event := self._event(line)) is not None:
                        yield event
                    elif self.completed:
                        return
            for line in splitter.rest():
                if (event := self._event(line)) is not None:
                    yield event

    def _event(self, line: bytes) -> dict[str, Any] | None:
        """The event a `data:` line carries; None for other lines and for `[DONE]` (which sets `completed`)."""
        if line.startswith(b"event:"):
            self._event_type = line[6:].strip().decode(errors="replace")
            return None
        if not line.startswith(b"data:"):
            return None
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.completed = True
            return None
        event = fastjson.loads(payload)
        if self._event_type == "error" or (isinstance(event, dict) and event.get("error")):
            error = event.get("error", event) if isinstance(event, dict) else event
            message = error.get("message") if isinstance(error, dict) else error
            raise UpstreamError(f"upstream error: {message}")
        self._event_type = ""
        if not isinstance(event, dict):
            raise UpstreamError("upstream sent a stream event that is not a JSON object")
        return event

    async def aclose(self) -> None:
        self._close()


def _progress(line: bytes) -> dict[str, Any]:
    try:
        parsed = fastjson.loads(line)
    except ValueError:
        raise UpstreamError("upstream sent an unreadable progress line") from None
    if not isinstance(parsed, dict):
        raise UpstreamError("upstream sent a progress line that is not a JSON object")
    return parsed


class LineStream:
    """An open NDJSON body (a Frontier pull): iterate `lines()`, then `aclose()`."""

    def __init__(self, chunks: AsyncIterator[bytes], close: Callable[[], Any], faults: Faults) -> None:
        self._chunks = chunks
        self._close = close
        self._faults = faults

    async def lines(self) -> AsyncIterator[dict[str, Any]]:
        splitter = LineSplitter()
        with self._faults:
            async for chunk in self._chunks:
                for line in splitter.feed(chunk):
                    if line.strip():
                        yield _progress(line)
            for line in splitter.rest():
                if line.strip():
                    yield _progress(line)

    async def aclose(self) -> None:
        self._close()


@dataclass
class Forwarded:
    """A passed-through answer: status and headers now, the raw body (still encoded) as it comes."""

    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]
    close: Callable[[], Any]

    async def aclose(self) -> None:
        self.close()


