"""SIGTERM drains the server, the one-process stack (both APIs) and the proxy, and an upstream killed mid-stream
is survived, on live processes.

A drain: the port stays open, new requests get a 503 in the service's dialect, the in-flight stream finishes
with its final chunk, and the process exits 0, within FRONTIER_DRAIN_SECONDS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, ServerProcess, free_port, stop_process
from tests.ollama.conftest import MODEL, start_layer


class LayerProcess:
    """A `frontier proxy` child (signals need a process of its own, not a thread of the test)."""

    def __init__(self, upstream: str, log_path: Path, drain_seconds: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OLLAMA_API_PORT": str(self.port), "FRONTIER_UPSTREAM_URL": upstream,
               "FRONTIER_DRAIN_SECONDS": str(drain_seconds)}
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "frontier", "proxy"], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=log_path.parent)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            try:
                if httpx.get(f"{self.url}/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def layer_process(openai_server: str, tmp_path: Path) -> Iterator[type[LayerProcess]]:
    started: list[LayerProcess] = []

    def start(drain_seconds: float) -> LayerProcess:
        layer = LayerProcess(openai_server, tmp_path / f"layer-{len(started)}.log", drain_seconds)
        started.append(layer)
        return layer

    yield start  # type: ignore[misc]
    for layer in started:
        layer.stop()


def _refused_while_draining(url: str, path: str) -> httpx.Response:
    """The first answer that shows the drain (the signal is handled between two event-loop ticks)."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{url}{path}", timeout=10)
        if response.status_code == 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_sigterm_drains_the_server(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"FRONTIER_DRAIN_SECONDS": "120"})
    # Long enough to still be running when the signal lands and the refusals are checked, on either engine.
    body = {"model": DEFAULT_MODEL, "max_tokens": 200, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "Count."}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=120) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: {")
        server.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        refused = _refused_while_draining(server.url, "/health")
        chat = httpx.post(f"{server.url}/v1/chat/completions", timeout=10,
                          json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]})
        rest = [line for line in lines if line.startswith("data: ")]
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert chat.status_code == 503 and chat.json()["error"]["code"] == "draining"
    assert rest[-1] == "data: [DONE]"
    assert json.loads(rest[-2][len("data: "):])["usage"]["completion_tokens"] == 200  # finished, not cut off
    assert server.proc.wait(timeout=60) == 0
    assert time.monotonic() - signalled < 120
    assert "draining" in server.log()


def test_sigterm_drains_the_ollama_layer(layer_process) -> None:  # type: ignore[no-untyped-def]
    layer = layer_process(120)
    # Long enough to still be running when the refusal is checked: a 6-token stream could end first on a fast
    # engine, and the drained layer would then be gone before the check reached it.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}],
            "options": {"num_predict": 200, "ignore_eos": True}}
    with httpx.stream("POST", f"{layer.url}/api/chat", json=body, timeout=120) as stream:
        lines = stream.iter_lines()
        first = json.loads(next(lines))
        layer.proc.send_signal(signal.SIGTERM)
        refused = _refused_while_draining(layer.url, "/api/tags")
        rest = [json.loads(line) for line in lines if line]
    assert first["done"] is False
    assert refused.status_code == 503 and set(refused.json()) == {"error"} and refused.headers["retry-after"]
    assert rest[-1]["done"] is True and "error" not in rest[-1] and rest[-1]["eval_count"] == 200  # not cut off
    assert layer.proc.wait(timeout=60) == 0


def test_sigterm_drains_both_apis_of_the_one_process(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"FRONTIER_DRAIN_SECONDS": "120"}, ollama=True)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}],
            "options": {"num_predict": 200, "ignore_eos": True}}
    with httpx.stream("POST", f"{server.ollama_url}/api/chat", json=body, timeout=120) as stream:
        lines = stream.iter_lines()
        first = json.loads(next(lines))
        server.proc.send_signal(signal.SIGTERM)
        refused = _refused_while_draining(server.ollama_url, "/api/tags")
        openai_refused = _refused_while_draining(server.url, "/health")  # one drain for the process
        rest = [json.loads(line) for line in lines if line]
    assert first["done"] is False
    assert refused.status_code == 503 and set(refused.json()) == {"error"} and refused.headers["retry-after"]
    assert openai_refused.status_code == 503
    assert rest[-1]["done"] is True and "error" not in rest[-1] and rest[-1]["eval_count"] == 200  # not cut off
    assert server.proc.wait(timeout=60) == 0


def test_the_drain_ends_after_frontier_drain_seconds(layer_process, openai_server: str) -> None:  # type: ignore[no-untyped-def]
    layer = layer_process(2)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count from 1 to 5000, separated by commas."}],
            "options": {"num_predict": 3000, "temperature": 0, "ignore_eos": True}}
    with httpx.stream("POST", f"{layer.url}/api/chat", json=body, timeout=120) as stream:
        lines = stream.iter_lines()
        json.loads(next(lines))
        layer.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        with pytest.raises(httpx.HTTPError):  # cut at the deadline: 3000 tokens take minutes here
            for _ in lines:
                pass
    assert layer.proc.wait(timeout=60) == 0
    assert time.monotonic() - signalled < 30  # 2 s of drain, 2 s of grace, start-up noise of a busy machine
    deadline = time.monotonic() + 30  # and the server's slot is free again: the upstream request was closed
    while httpx.get(f"{openai_server}/health", timeout=10).json()["in_flight"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_an_upstream_killed_mid_stream_is_one_error_line_and_the_layer_recovers(
    start_server, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    upstream = ServerProcess({"MISTRAL_API_PORT": str(port)}, tmp_path / "first.log", port=port)
    upstream.wait_healthy()
    layer = start_layer(upstream.url)
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Count from 1 to 5000."}],
                "options": {"num_predict": 3000, "ignore_eos": True}}
        lines = []
        with httpx.stream("POST", f"{layer.url}/api/chat", json=body, timeout=120) as stream:
            for raw in stream.iter_lines():
                lines.append(json.loads(raw))
                if len(lines) == 2:
                    upstream.proc.kill()  # SIGKILL: no drain, the connection just dies
        upstream.stop()
        assert all(line["done"] is False for line in lines[:-1])
        assert set(lines[-1]) == {"error"} and "upstream" in lines[-1]["error"]
        down = httpx.post(f"{layer.url}/api/chat", json=body | {"stream": False}, timeout=30)
        assert down.status_code == 502
        again = ServerProcess({"MISTRAL_API_PORT": str(port)}, tmp_path / "second.log", port=port)
        try:
            again.wait_healthy()
            short = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": "Hi"}],
                     "options": {"num_predict": 2}}
            answer = httpx.post(f"{layer.url}/api/chat", json=short, timeout=120)
            assert answer.status_code == 200 and answer.json()["done"] is True
        finally:
            again.stop()
    finally:
        layer.stop()
