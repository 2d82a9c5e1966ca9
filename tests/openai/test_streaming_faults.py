"""Concurrency, client disconnects and engine faults in the middle of a stream."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from tests.conftest import DEFAULT_MODEL, free_port

import openai
from frontier.engine.protocol import Delta, EngineHealth, GenerationRequest, ModelInfo, Usage
from frontier.errors import EngineError, ModelNotFoundError
from frontier.openai.app import create_app
from openai import AsyncOpenAI, OpenAI


def test_sixteen_concurrent_streams_all_complete(openai_server: str) -> None:
    client = AsyncOpenAI(base_url=f"{openai_server}/v1", api_key="unused", max_retries=0, timeout=300)

    async def one(i: int) -> tuple[str, str | None, int]:
        stream = await client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": f"Tell me fact number {i} about space."}],
            max_tokens=24, stream=True, stream_options={"include_usage": True},
        )
        text, finish, tokens = "", None, 0
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        return text, finish, tokens

    async def main() -> list[tuple[str, str | None, int]]:
        try:
            return await asyncio.gather(*(one(i) for i in range(16)))
        finally:
            await client.close()

    results = asyncio.run(main())
    assert len(results) == 16
    for text, finish, tokens in results:
        assert text
        assert finish in ("stop", "length")
        assert 0 < tokens <= 24


def _health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()


def test_client_disconnect_mid_stream_frees_the_engine_slot(openai_server: str) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Write a very long story."}],
            "max_tokens": 4000, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{openai_server}/v1/chat/completions", json=body, timeout=60) as r:
        # Keep the line iterator referenced: a dropped httpx iterator closes the response, i.e. disconnects.
        lines = r.iter_lines()
        seen = [line for line in (next(lines) for _ in range(10)) if line]
        assert len(seen) >= 5 and all(line.startswith("data: {") for line in seen), seen
        assert _health(openai_server)["in_flight"] == 1
    # 4000 tokens would take about a minute; a dropped stream frees its slot within a few tokens' time.
    deadline = time.monotonic() + 10
    while _health(openai_server)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _health(openai_server)["in_flight"] == 0
    r2 = httpx.post(f"{openai_server}/v1/chat/completions", timeout=60,
                    json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3})
    assert r2.status_code == 200


def test_client_leaving_a_non_stream_request_frees_the_engine_slot(openai_server: str) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Write a very long story."}],
            "max_tokens": 4000, "ignore_eos": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{openai_server}/v1/chat/completions", json=body, timeout=httpx.Timeout(60, read=2))
    deadline = time.monotonic() + 10
    while _health(openai_server)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _health(openai_server)["in_flight"] == 0  # 4000 tokens would still be generating for a minute


class CrashingEngine:
    """Test double: an engine that fails after two tokens when asked to "crash". A real engine cannot be made
    to crash on demand, which is the one reason this fake exists."""

    name = "crashing"

    def __init__(self) -> None:
        self.calls = 0

    async def load(self) -> None:
        return None

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="crashy", created=0, context_length=512)]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if request.model != "crashy":
            raise ModelNotFoundError(request.model)
        self.calls += 1
        yield Delta(text="Hello")
        yield Delta(text=" there")
        if (request.messages or [{}])[-1].get("content") == "crash":
            raise EngineError("the engine failed while generating: simulated crash")
        yield Delta(finish_reason="stop")
        yield Delta(usage=Usage(prompt_tokens=3, completion_tokens=2))

    async def tokenize(self, model: str, text: str) -> list[int]:
        return [1]

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True)

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def crashing_server() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(CrashingEngine()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_engine_error_mid_stream_ends_with_an_error_event(crashing_server: str) -> None:
    body = {"model": "crashy", "messages": [{"role": "user", "content": "crash"}], "stream": True}
    with httpx.stream("POST", f"{crashing_server}/v1/chat/completions", json=body, timeout=10) as r:
        assert r.status_code == 200
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert '"error"' in events[-2] and "simulated crash" in events[-2]
    client = OpenAI(base_url=f"{crashing_server}/v1", api_key="x", max_retries=0)
    # The official SDK surfaces the event as an APIError; the next request is served normally.
    with pytest.raises(openai.APIError, match="simulated crash"):
        for _ in client.chat.completions.create(model="crashy", messages=[{"role": "user", "content": "crash"}],
                                                stream=True):
            pass
    ok = client.chat.completions.create(model="crashy", messages=[{"role": "user", "content": "x"}])
    assert ok.choices[0].message.content == "Hello there"


def test_engine_error_without_streaming_is_a_500_error_object(crashing_server: str) -> None:
    calls = [
        httpx.post(f"{crashing_server}/v1/chat/completions", timeout=10,
                   json={"model": "crashy", "messages": [{"role": "user", "content": text}]})
        for text in ("crash", "fine")
    ]
    statuses = sorted(r.status_code for r in calls)
    assert statuses == [200, 500]
    failed = next(r for r in calls if r.status_code == 500)
    assert failed.json()["error"]["code"] == "engine_error"
