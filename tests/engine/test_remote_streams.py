"""The layer's SSE reader over a response body: events come out whole however the bytes are cut into
chunks, with LF or CRLF line ends; `[DONE]` ends the stream and an error event raises. The NDJSON reader
(a Frontier pull's progress) likewise. No server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from frontier.engine.remote.faults import Faults, UpstreamError
from frontier.engine.remote.streams import EventStream, LineSplitter, LineStream

BODY = (b'data: {"choices":[{"delta":{"content":"H\xc3\xa9llo"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":" world"}}]}\n\n'
        b"data: [DONE]\n\n")


def _events(chunks: list[bytes]) -> tuple[list[dict[str, Any]], bool]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def main() -> tuple[list[dict[str, Any]], bool]:
        stream = EventStream(body(), lambda: None, Faults("http://upstream"))
        events = [event async for event in stream.events()]
        return events, stream.completed

    return asyncio.run(main())


def _progress(chunks: list[bytes]) -> list[dict[str, Any]]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def main() -> list[dict[str, Any]]:
        stream = LineStream(body(), lambda: None, Faults("http://upstream"))
        return [line async for line in stream.lines()]

    return asyncio.run(main())


def _cut(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 61, len(BODY)])
@pytest.mark.parametrize("crlf", [False, True])
def test_events_survive_any_chunking_and_line_end(size: int, crlf: bool) -> None:
    body = BODY.replace(b"\n", b"\r\n") if crlf else BODY
    events, completed = _events(_cut(body, size))  # size 1 splits the two-byte "é" across chunks
    assert [e["choices"][0]["delta"]["content"] for e in events] == ["Héllo", " world"]
    assert completed


def test_a_stream_without_done_is_not_complete() -> None:
    events, completed = _events([b'data: {"choices":[]}\n\n', b"data: {\"choices\":[]}"])  # no final newline
    assert len(events) == 2 and not completed


def test_comments_and_other_fields_are_skipped() -> None:
    events, _ = _events([b": keep-alive\n\nid: 7\nretry: 10\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"])
    assert events == [{"a": 1}]


@pytest.mark.parametrize("body", [
    b'event: error\ndata: {"message":"engine crashed"}\n\n',
    b'data: {"error":{"message":"engine crashed"}}\n\n',
])
def test_an_error_event_raises_with_its_message(body: bytes) -> None:
    with pytest.raises(UpstreamError, match="engine crashed"):
        _events(_cut(body, 5))


PROGRESS = b'{"status":"pulling manifest"}\n\n{"status":"downloading","completed":5}\r\n{"status":"success"}'


@pytest.mark.parametrize("size", [1, 4, 29, len(PROGRESS)])
def test_progress_lines_survive_any_chunking_and_the_last_needs_no_line_end(size: int) -> None:
    lines = _progress(_cut(PROGRESS, size))
    assert [line["status"] for line in lines] == ["pulling manifest", "downloading", "success"]


def test_an_unreadable_progress_line_raises() -> None:
    with pytest.raises(UpstreamError, match="unreadable progress line"):
        _progress([b'{"status":"ok"}\n', b"not json\n"])


@pytest.mark.parametrize(
    ("chunks", "lines", "rest"),
    [
        ([b"a\nb", b"c\n"], [b"a", b"bc"], []),
        ([b"a\r\n", b"\r\n"], [b"a", b""], []),
        ([b"a\r", b"\nb"], [b"a"], [b"b"]),
        ([b""], [], []),
    ],
)
def test_the_splitter_hands_out_whole_lines_and_keeps_the_rest(
    chunks: list[bytes], lines: list[bytes], rest: list[bytes]
) -> None:
    splitter = LineSplitter()
    assert [line for chunk in chunks for line in splitter.feed(chunk)] == lines
    assert splitter.rest() == rest
