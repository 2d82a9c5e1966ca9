"""One live stack with an API key for the security tests: `frontier serve` and `frontier proxy` as child
processes (the real start-up paths, each with its own log file at info level), over a models folder of its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, MODELS, free_port, stop_process
from tests.ollama.conftest import RunningLayer, run_layer

from frontier.config import Settings

ALLOWED_ORIGIN = "http://allowed.example"


@dataclass
class Proxy:
    url: str
    log_path: Path
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class SecuredStack:
    key: str
    server: str  # base URL of the OpenAI server
    layer: str  # base URL of the Ollama layer
    server_log: Path
    layer_log: Path
    models: Path
    outside: Path  # a folder beside the models folder that no request may reach

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def start_layer_with(settings: Settings) -> RunningLayer:
    """The layer under uvicorn in a thread, built from `settings` (key, CORS, upstream key as given)."""
    return run_layer(settings)


def start_proxy(env: dict[str, str], folder: Path, upstream: str) -> Proxy:
    port = free_port()
    log_path = folder / "proxy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "frontier", "proxy", "--port", str(port), "--upstream", upstream],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return Proxy(url, log_path, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"proxy not up in 60 s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def secured(start_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("secured")
    models, outside = root / "models", root / "outside"
    models.mkdir()
    outside.mkdir()
    os.link(MODELS / DEFAULT_MODEL, models / DEFAULT_MODEL)  # a second name for the same bytes: instant
    (outside / "secret.gguf").write_bytes(b"GGUF not for you")
    (models / "escape.gguf").symlink_to(outside / "secret.gguf")  # a symlink inside pointing outside
    key = "sk-frontier-" + secrets.token_hex(16)
    env = {"FRONTIER_API_KEY": key, "FRONTIER_CORS_ORIGINS": ALLOWED_ORIGIN, "HF_HUB_OFFLINE": "1"}
    server = start_server({**env, "MISTRAL_MODELS_PATH": str(models), "MISTRAL_LOG_LEVEL": "info"})
    proxy = start_proxy({**env, "PROXY_LOG_LEVEL": "info"}, root, server.url)
    try:
        yield SecuredStack(key, server.url, proxy.url, server.log_path, proxy.log_path, models, outside)
    finally:
        stop_process(proxy.proc)
