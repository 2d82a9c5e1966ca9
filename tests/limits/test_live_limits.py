"""Request limits on the live stack: body size, max_tokens clamped to the context and capped, message count and
prompt length. One server with small limits serving the Ollama API itself (in-process) and, as a second
arrangement, `frontier proxy` in front of it; real clients."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, ServerProcess
from tests.ollama.conftest import MODEL, start_layer

import ollama
import openai
from openai import OpenAI

CAP = 12  # FRONTIER_MAX_TOKENS (small: this runs on slow CI machines)
LIMITS = {"frontier_max_body_bytes": 65536, "frontier_max_messages": 4, "frontier_max_prompt_chars": 2000}
SERVER_ENV = {"MISTRAL_MAX_SEQ_LEN": "64", "FRONTIER_MAX_TOKENS": str(CAP),
              **{key.upper(): str(value) for key, value in LIMITS.items()}}


@pytest.fixture(scope="module")
def limited_server(start_server) -> ServerProcess:  # type: ignore[no-untyped-def]
    return start_server(SERVER_ENV, ollama=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def limited(limited_server: ServerProcess) -> str:
    return limited_server.url


@pytest.fixture(scope="module", params=("in-process", "proxy"))
def limited_layer(limited_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """The Ollama API with the same limits: the server's own, or a proxy's in front of it."""
    if request.param == "in-process":
        yield limited_server.ollama_url
        return
    layer = start_layer(limited_server.url, settings_overrides=LIMITS)
    yield layer.url
    layer.stop()


@pytest.fixture(scope="module")
def client(limited: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{limited}/v1", api_key="unused", max_retries=0, timeout=300) as c:
        yield c


def test_max_tokens_over_what_the_context_leaves_is_clamped_and_ends_with_length(client: OpenAI) -> None:
    # 59 of the 64 context tokens are prompt (llama.cpp, which the server picks here, counts exactly): 1000
    # asked, what fits (< CAP) given, no 400.
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "word " * 28}], max_tokens=1000,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and 0 < answer.usage.completion_tokens < CAP


def test_frontier_max_tokens_caps_a_request_asking_for_more(client: OpenAI) -> None:
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Count to a thousand."}], max_tokens=1000,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == CAP


def test_num_predict_over_the_cap_is_clamped_through_the_ollama_layer(limited_layer: str) -> None:
    prompt = [{"role": "user", "content": "Count from 1 to 5000, separated by commas."}]
    with ollama.Client(host=limited_layer, timeout=300) as c:
        reply = c.chat(model=MODEL, messages=prompt, options={"temperature": 0, "num_predict": 5000})
    assert reply.done_reason == "length" and reply.eval_count == CAP


def test_prompt_over_the_context_is_still_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model=DEFAULT_MODEL, prompt="word " * 300, max_tokens=5)
    assert refused.value.code == "context_length_exceeded"


def _five_messages() -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(5)]


def test_too_many_messages_is_a_400_in_each_dialect(client: OpenAI, limited_layer: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=DEFAULT_MODEL, messages=_five_messages(), max_tokens=2)  # type: ignore[arg-type]
    assert refused.value.code == "too_many_messages" and "FRONTIER_MAX_MESSAGES" in str(refused.value)
    r = httpx.post(f"{limited_layer}/api/chat", json={"model": MODEL, "messages": _five_messages()}, timeout=30)
    assert r.status_code == 400 and set(r.json()) == {"error"} and "too many messages" in r.json()["error"]


def test_prompt_over_the_character_limit_is_a_400_in_each_dialect(client: OpenAI, limited_layer: str) -> None:
    with pytest.raises(openai.BadRequestError) as chat:
        client.chat.completions.create(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "x" * 2001}])
    assert chat.value.code == "prompt_too_long"
    with pytest.raises(openai.BadRequestError) as completion:
        client.completions.create(model=DEFAULT_MODEL, prompt="x" * 2001)
    assert completion.value.code == "prompt_too_long" and completion.value.param == "prompt"
    r = httpx.post(f"{limited_layer}/api/generate", json={"model": MODEL, "prompt": "x" * 2001}, timeout=30)
    assert r.status_code == 400 and "FRONTIER_MAX_PROMPT_CHARS" in r.json()["error"]


def _chunked(data: bytes) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(data), 8192):
        yield data[start:start + 8192]


def _big_chat(model: str) -> bytes:
    return httpx.Request("POST", "http://x", json={
        "model": model, "messages": [{"role": "user", "content": "y" * 70_000}]}).content


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_a_413_in_each_dialect(limited: str, limited_layer: str, chunked: bool) -> None:
    def send(url: str, body: bytes) -> httpx.Response:
        content: Any = _chunked(body) if chunked else body
        return httpx.post(url, content=content, headers={"content-type": "application/json"}, timeout=30)

    r = send(f"{limited}/v1/chat/completions", _big_chat(DEFAULT_MODEL))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large" and "65536" in r.json()["error"]["message"]
    r = send(f"{limited_layer}/api/chat", _big_chat(MODEL))
    assert r.status_code == 413 and set(r.json()) == {"error"} and "too large" in r.json()["error"]


def test_a_chunked_body_within_the_limit_is_served(limited: str, limited_layer: str) -> None:
    body = httpx.Request("POST", "http://x", json={
        "model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}).content
    r = httpx.post(f"{limited}/v1/chat/completions", content=_chunked(body), timeout=120,
                   headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0
    body = httpx.Request("POST", "http://x", json={
        "model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}}).content
    r = httpx.post(f"{limited_layer}/api/generate", content=_chunked(body), timeout=120)
    assert r.status_code == 200 and r.json()["done"] is True


def test_the_default_body_limit_lets_an_image_through(openai_server: str) -> None:
    # A 4 MiB photo, base64-encoded as clients send it: under the default limit, so the answer is the
    # model's own (a text-only model says so with a 400), never a 413.
    image = base64.b64encode(bytes(range(256)) * 16384).decode()
    layer = start_layer(openai_server)
    try:
        r = httpx.post(f"{openai_server}/v1/chat/completions", timeout=60, json={
            "model": DEFAULT_MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}]}]})
        assert len(r.request.content) > 4 * 1024 * 1024 and r.status_code == 400, r.status_code
        assert r.json()["error"]["param"].startswith("messages[0].content")
        r = httpx.post(f"{layer.url}/api/chat", timeout=60, json={
            "model": MODEL, "stream": False, "messages": [{"role": "user", "content": "hi", "images": [image]}]})
        assert r.status_code != 413 and "error" not in r.json() or "vision" in r.json()["error"], r.text
    finally:
        layer.stop()
