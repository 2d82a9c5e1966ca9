"""The bounded queue on the live stack: one engine slot, one queue place. The excess is refused at once with
a retry hint (429 on the OpenAI API, 503 on the Ollama API, in-process and through the proxy), the admitted
requests complete, and a client that leaves while queued gives its place back."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, ServerProcess
from tests.ollama.conftest import MODEL, start_layer

import openai
from openai import AsyncOpenAI

ENV = {"MISTRAL_MAX_BATCH_SIZE": "1", "FRONTIER_MAX_QUEUE": "1"}
TOKENS = 4
T = TypeVar("T")


@pytest.fixture(scope="module")
def busy_server(start_server) -> ServerProcess:  # type: ignore[no-untyped-def]
    return start_server(ENV, ollama=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def busy(busy_server: ServerProcess) -> str:
    return busy_server.url


@pytest.fixture(scope="module", params=("in-process", "proxy"))
def busy_layer(busy_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """The Ollama API of the busy server's own process, or a proxy in front of it."""
    if request.param == "in-process":
        yield busy_server.ollama_url
        return
    layer = start_layer(busy_server.url)
    yield layer.url
    layer.stop()


def _health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()


def _wait_for(check: object, what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@contextmanager
def _slot_held(url: str) -> Iterator[Callable[[], None]]:
    """A long stream holds the one engine slot until the test lets it go. Without it, the requests under test
    raced each other: on a fast engine the first could finish before the last arrived, and take its place."""
    long = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Write a long story."}],
            "max_tokens": 2000, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=long, timeout=120) as running:
        lines = running.iter_lines()  # kept: a dropped line iterator closes the stream when collected
        assert next(lines).startswith("data: ")
        yield running.close
    _wait_for(lambda: _health(url)["in_flight"] == 0, "the released stream kept its slot", within=10)


async def _three_with_slot_held(
    url: str, one: Callable[[int], Coroutine[object, object, T]], release: Callable[[], None]
) -> list[T]:
    """Sends three requests while the slot is held: one takes the queue place, two are refused at once. Once
    both refusals are back and the third is seen queued, the slot is let go and the queued one runs."""
    tasks = [asyncio.create_task(one(i)) for i in range(3)]
    deadline = time.monotonic() + 60
    while sum(task.done() for task in tasks) < 2 or _health(url)["queued"] != 1:
        assert time.monotonic() < deadline, "two refusals and one queued request never showed"
        await asyncio.sleep(0.05)
    release()
    return list(await asyncio.gather(*tasks))


def test_beyond_slots_and_queue_the_server_answers_429_with_retry_after(busy: str) -> None:
    client = AsyncOpenAI(base_url=f"{busy}/v1", api_key="unused", max_retries=0, timeout=300)

    async def one(i: int) -> tuple[str, object]:
        try:
            stream = await client.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": f"Story {i}"}], max_tokens=TOKENS,
                stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
            )
            usage = None
            async for chunk in stream:
                usage = chunk.usage or usage
            return "done", usage.completion_tokens if usage else None
        except openai.RateLimitError as exc:
            return "refused", (exc.code, exc.response.headers.get("retry-after"))

    async def main(release: Callable[[], None]) -> list[tuple[str, object]]:
        try:
            return await _three_with_slot_held(busy, one, release)
        finally:
            await client.close()

    with _slot_held(busy) as release:
        results = sorted(asyncio.run(main(release)))
    assert results == [("done", TOKENS), ("refused", ("overloaded", "2")), ("refused", ("overloaded", "2"))]
    assert _health(busy)["in_flight"] == 0 and _health(busy)["queued"] == 0


def test_beyond_the_queue_the_ollama_layer_answers_503_with_retry_after(busy: str, busy_layer: str) -> None:
    async def main(release: Callable[[], None]) -> list[tuple[int, str, str]]:
        async with httpx.AsyncClient(base_url=busy_layer, timeout=300) as client:
            async def one(i: int) -> tuple[int, str, str]:
                body = {"model": MODEL, "messages": [{"role": "user", "content": f"Count to {i + 50}."}],
                        "options": {"num_predict": TOKENS}}
                async with client.stream("POST", "/api/chat", json=body) as r:
                    lines = [json.loads(line) async for line in r.aiter_lines() if line]
                last = lines[-1]
                end = "done" if last.get("done") else last.get("error", "")
                return r.status_code, r.headers.get("retry-after", ""), end

            await client.get("/api/tags")  # the model list is cached: all three go upstream at once
            return await _three_with_slot_held(busy, one, release)

    with _slot_held(busy) as release:
        results = sorted(asyncio.run(main(release)))
    assert [(status, retry) for status, retry, _ in results] == [(200, ""), (503, "2"), (503, "2")]
    assert results[0][2] == "done"
    assert all("busy" in end for _, _, end in results[1:])


def test_a_client_leaving_while_queued_gives_its_place_back(busy: str) -> None:
    long = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Write a long story."}],
            "max_tokens": 2000, "stream": True, "ignore_eos": True}
    short = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    url = httpx.URL(busy)
    with httpx.stream("POST", f"{busy}/v1/chat/completions", json=long, timeout=120) as running:
        lines = running.iter_lines()
        assert next(lines).startswith("data: ")  # holds the one slot now
        payload = json.dumps(short).encode()
        waiting = socket.create_connection((url.host, url.port))
        waiting.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        _wait_for(lambda: _health(busy)["queued"] == 1, "the second request never queued")
        waiting.close()  # the client leaves before its turn
        _wait_for(lambda: _health(busy)["queued"] == 0, "the queue place was not given back", within=10)
        # One slot + one queue place: the next request is admitted (queued), not refused with a 429.
        statuses: list[int] = []
        third = threading.Thread(target=lambda: statuses.append(
            httpx.post(f"{busy}/v1/chat/completions", json=short, timeout=300).status_code))
        third.start()
        _wait_for(lambda: _health(busy)["queued"] == 1 or bool(statuses), "the third request was not admitted")
        assert statuses == []  # still waiting for the slot, not refused
    third.join(timeout=300)
    assert statuses == [200]
    _wait_for(lambda: _health(busy)["in_flight"] == 0, "the left stream kept its slot", within=10)
