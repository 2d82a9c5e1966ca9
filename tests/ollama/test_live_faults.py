"""Faults between the layer and its upstream, and clients that go away, on the live stack.

`TcpRelay` stands in for the network only: it cuts or refuses connections to the real server.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from tests.conftest import free_port
from tests.ollama.conftest import MODEL, Link, RunningLayer, TcpRelay

LONG = {"temperature": 0, "num_predict": 3000, "ignore_eos": True}  # never ends early, on either engine
# A prompt the default model answers at length (it counts on until max_tokens), so a stream is still
# running when the test acts on it.
COUNT = {"model": MODEL, "messages": [{"role": "user", "content": "Count from 1 to 5000, separated by commas."}]}


def in_flight(openai_server: str) -> int:
    return int(httpx.get(f"{openai_server}/health", timeout=10).json()["in_flight"])


def wait_idle(openai_server: str, within: float) -> float:
    started = time.monotonic()
    while in_flight(openai_server) > 0:
        assert time.monotonic() - started < within, "the upstream request was not cancelled"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def hanging_upstream() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog does) but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
        ("POST", "/api/generate", {"model": MODEL, "prompt": "hi", "stream": False}),
        ("GET", "/api/tags", None),
        ("POST", "/api/show", {"model": MODEL}),
    ],
)
def test_upstream_down_is_a_fast_502(
    layer_factory: Callable[..., RunningLayer], method: str, path: str, body: Any
) -> None:
    layer = layer_factory(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    response = httpx.request(method, f"{layer.url}{path}", json=body, timeout=30)
    assert time.monotonic() - started < 5
    assert response.status_code == 502
    assert "unavailable" in response.json()["error"]


def test_upstream_timing_out_is_a_503_within_the_bound(
    layer_factory: Callable[..., RunningLayer], hanging_upstream: str
) -> None:
    layer = layer_factory(hanging_upstream, timeout=aiohttp.ClientTimeout(connect=2.0, sock_read=2.0))
    started = time.monotonic()
    response = httpx.post(f"{layer.url}/api/chat", json=COUNT, timeout=30)
    assert response.status_code == 503 and "timed out" in response.json()["error"]
    assert time.monotonic() - started < 6


def test_the_layer_recovers_by_itself_when_the_upstream_returns(
    layer_factory: Callable[..., RunningLayer], relay: TcpRelay
) -> None:
    layer = layer_factory(relay.url)
    body = {"model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 3}}
    assert httpx.post(f"{layer.url}/api/generate", json=body, timeout=60).status_code == 200
    relay.stop()
    down = httpx.post(f"{layer.url}/api/generate", json=body, timeout=60)
    assert down.status_code == 502
    relay.start()
    again = httpx.post(f"{layer.url}/api/generate", json=body, timeout=60)
    assert again.status_code == 200 and again.json()["done"] is True


def test_upstream_dropping_mid_stream_ends_with_one_error_line(
    layer_factory: Callable[..., RunningLayer], relay: TcpRelay, openai_server: str
) -> None:
    layer = layer_factory(relay.url)
    lines: list[dict[str, Any]] = []
    with httpx.stream("POST", f"{layer.url}/api/chat", json=COUNT | {"options": LONG}, timeout=60) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            lines.append(json.loads(raw))
            if len(lines) == 3:
                relay.cut()
    assert all("error" not in line and line["done"] is False for line in lines[:-1])
    assert set(lines[-1]) == {"error"} and "upstream" in lines[-1]["error"]
    wait_idle(openai_server, within=30)


def test_a_client_leaving_a_stream_cancels_the_upstream_request(ollama_url: str, openai_server: str) -> None:
    with httpx.stream("POST", f"{ollama_url}/api/chat", json=COUNT | {"options": LONG}, timeout=60) as response:
        lines = []
        for raw in response.iter_lines():
            lines.append(json.loads(raw))
            if len(lines) == 3:
                break
    assert all(line["done"] is False for line in lines)
    # 3000 tokens take minutes on a CPU; a freed engine within seconds means the request was cancelled.
    assert wait_idle(openai_server, within=10) < 10


def test_a_client_leaving_a_non_stream_request_drops_the_upstream_request(
    layer_factory: Callable[..., RunningLayer], relay: TcpRelay, openai_server: str
) -> None:
    layer = layer_factory(relay.url)
    assert httpx.get(f"{layer.url}/api/tags", timeout=30).status_code == 200  # model list cached, pool warm
    sent = {id(link): link.bytes_forth for link in relay.links}
    url = httpx.URL(layer.url)
    body = json.dumps(COUNT | {"stream": False, "options": LONG}).encode()
    request = (
        f"POST /api/chat HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    def forwarded() -> list[Link]:
        return [link for link in relay.links if link.bytes_forth > sent.get(id(link), 0)]

    with socket.create_connection((url.host, url.port)) as client:
        client.sendall(request)
        deadline = time.monotonic() + 30
        while not forwarded():  # the layer has sent the chat request upstream
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.01)
        [link] = forwarded()
    deadline = time.monotonic() + 5
    while not link.closed_by:
        assert time.monotonic() < deadline, "the layer kept its upstream request open"
        time.sleep(0.01)
    # The layer hung up on the upstream. The remote engine always streams from its upstream, so the server
    # stops the generation too: 3000 tokens take minutes on a CPU, an idle engine within seconds means it did.
    assert link.closed_by == "client"
    assert wait_idle(openai_server, within=10) < 10
