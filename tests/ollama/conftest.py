"""The live stack for the Ollama layer: the real server (tests/conftest.py) + the real layer on loopback.

The layer runs under uvicorn in a thread of the test process. `TcpRelay` sits between a layer and the server
where a test needs a network fault the server cannot produce itself (upstream gone, connection cut mid-stream).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import ServerProcess, free_port

from frontier.config import Settings
from frontier.ollama.app import create_app

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
MODEL = "smollm2:135m"


@dataclass
class RunningLayer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_layer(
    upstream_url: str, settings_overrides: dict[str, Any] | None = None, **app_options: Any
) -> RunningLayer:
    settings = Settings(frontier_upstream_url=upstream_url, _env_file=None,  # type: ignore[call-arg]
                        **(settings_overrides or {}))
    return run_layer(settings, **app_options)


def run_layer(settings: Settings, **app_options: Any) -> RunningLayer:
    """The layer built from `settings`, under uvicorn in a thread of the test process, once it is listening."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, **app_options), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"ollama-layer-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Ollama layer did not start")
        time.sleep(0.02)
    return RunningLayer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def layer_factory() -> Iterator[Callable[..., RunningLayer]]:
    """start(upstream_url, **create_app options) -> a running layer; all are stopped at session end."""
    started: list[RunningLayer] = []

    def start(upstream_url: str, **app_options: Any) -> RunningLayer:
        layer = start_layer(upstream_url, **app_options)
        started.append(layer)
        return layer

    yield start
    for layer in started:
        layer.stop()


# The two arrangements of the Ollama API: served by the server's own process over its engines (`frontier run`),
# and in front of an OpenAI-compatible upstream through the remote engine (`frontier proxy`).
ARRANGEMENTS = ("in-process", "proxy")


@pytest.fixture(scope="session", params=ARRANGEMENTS)
def arrangement(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def in_process_server(start_server, engine_name: str) -> ServerProcess:  # type: ignore[no-untyped-def]
    """A server with the default model serving the Ollama API from its own process (what `make run` starts)."""
    return start_server({"MISTRAL_ENGINE": engine_name}, ollama=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def openai_server(openai_server: str, arrangement: str, request: pytest.FixtureRequest) -> str:
    """The server behind the Ollama API under test: the in-process one's, or the upstream of the proxy."""
    if arrangement == "in-process":
        return str(request.getfixturevalue("in_process_server").url)
    return openai_server


@pytest.fixture(scope="session")
def ollama_url(openai_server: str, arrangement: str, request: pytest.FixtureRequest,
               layer_factory: Callable[..., RunningLayer]) -> str:
    """Base URL of the Ollama API in the arrangement under test."""
    if arrangement == "in-process":
        return str(request.getfixturevalue("in_process_server").ollama_url)
    return layer_factory(openai_server).url


@dataclass
class Link:
    """One relayed connection: what came back from the target, and which side hung up first."""

    client: socket.socket
    target: socket.socket
    bytes_forth: int = 0
    bytes_back: int = 0
    closed_by: str = ""


class TcpRelay:
    """A loopback TCP relay to `target`. `cut()` drops every open connection; `stop()` closes the port
    (connections are refused, as with a server that is down); `start()` opens the same port again."""

    def __init__(self, target_url: str) -> None:
        url = httpx.URL(target_url)
        self.target = (url.host, url.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.links: list[Link] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                target = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            link = Link(client, target)
            with self._lock:
                self.links.append(link)
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()

    def _pump(self, link: Link, back: bool) -> None:
        source, sink = (link.target, link.client) if back else (link.client, link.target)
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if back:
                    link.bytes_back += len(data)
                else:
                    link.bytes_forth += len(data)
            with self._lock:
                link.closed_by = link.closed_by or ("target" if back else "client")
        except OSError:
            pass
        finally:
            self._close(link)

    @staticmethod
    def _close(link: Link) -> None:
        for sock in (link.client, link.target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        with self._lock:
            links = list(self.links)
        for link in links:
            link.closed_by = link.closed_by or "relay"
            self._close(link)

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves the port accepting.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()


@pytest.fixture
def relay(openai_server: str) -> Iterator[TcpRelay]:
    relay = TcpRelay(openai_server)
    yield relay
    relay.stop()
