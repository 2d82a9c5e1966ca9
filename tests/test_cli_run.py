"""`frontier run` (what `make run` starts): both services come up, print their URLs, and stop together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from tests.conftest import MODELS, free_port


def test_run_starts_server_and_ollama_layer_and_sigterm_stops_both(tmp_path) -> None:  # type: ignore[no-untyped-def]
    api, ollama = free_port(), free_port()
    env = {**os.environ, "MISTRAL_API_PORT": str(api), "OLLAMA_API_PORT": str(ollama),
           "MISTRAL_MODELS_PATH": str(MODELS)}
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "frontier", "run"], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if (httpx.get(f"http://127.0.0.1:{api}/health", timeout=2).status_code == 200
                        and httpx.get(f"http://127.0.0.1:{ollama}/", timeout=2).text == "Ollama is running"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        tags = httpx.get(f"http://127.0.0.1:{ollama}/api/tags", timeout=10).json()
        assert "smollm2:135m" in [m["name"] for m in tags["models"]]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = log_path.read_text()
    assert f"OpenAI-compatible API: http://127.0.0.1:{api}/v1" in out
    assert f"Ollama-compatible API: http://127.0.0.1:{ollama}" in out
    for port in (api, ollama):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            raise AssertionError(f"port {port} still answers after SIGTERM")
        except httpx.ConnectError:
            pass
