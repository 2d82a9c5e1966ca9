"""Shared fixtures: a live Frontier server (real mistral.rs engine, default model) on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Every server a test starts stays up until the session ends, a dozen or more at once: they share one KV pool
# per server (a few hundred MiB) instead of the default whole context per slot (1.4 GiB each for the default
# model). The tests of the default layout ask for it with MISTRAL_KV_LAYOUT=auto.
os.environ.setdefault("MISTRAL_KV_LAYOUT", "unified")

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s: what every child a test starts gets at the end."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServerProcess:
    """A `frontier serve` child process with its own environment and log file; with `ollama`, the same process
    serves the Ollama API too (`frontier serve --ollama`, what `frontier run` starts) at `ollama_url`."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None, ollama: bool = False) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ollama_port = free_port() if ollama else 0
        self.ollama_url = f"http://127.0.0.1:{self.ollama_port}" if ollama else ""
        self.log_path = log_path
        ports = {"MISTRAL_API_PORT": str(self.port)} | ({"OLLAMA_API_PORT": str(self.ollama_port)} if ollama else {})
        full_env = {**os.environ, **ports, "MISTRAL_MODELS_PATH": str(MODELS), **env}
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "frontier", "serve", *(["--ollama"] if ollama else [])], env=full_env,
            stdout=self._log, stderr=subprocess.STDOUT, cwd=log_path.parent,
        )

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Factory: start_server(env, ollama=False) -> a healthy ServerProcess; all are stopped at session end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, wait: bool = True, ollama: bool = False) -> ServerProcess:
        folder = tmp_path_factory.mktemp("server")
        server = ServerProcess(env or {}, folder / "server.log", ollama=ollama)
        started.append(server)
        if wait:
            server.wait_healthy()
        return server

    yield start
    for server in started:
        server.stop()


# Every test of the server's and the layer's APIs runs once per engine (CI installs both).
ENGINES = ("mistralrs", "llamacpp")


@pytest.fixture(scope="session", params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def openai_server(start_server, engine_name: str) -> str:  # type: ignore[no-untyped-def]
    """Base URL of a server with the default model and default settings, on the engine under test."""
    return str(start_server({"MISTRAL_ENGINE": engine_name}).url)

# tests/ has no __init__.py, so pytest puts tests/ itself (not the repo root) on sys.path.
from derived_fixture import derived_models  # noqa: E402,F401
from embed_fixture import chat_and_embed_models, embed_model, embed_source  # noqa: E402,F401
