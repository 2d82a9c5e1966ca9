"""`frontier run` (what `make run` starts): one process serves both APIs, prints their URLs, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from tests.conftest import MODELS, free_port


def test_run_serves_both_apis_from_one_process_and_sigterm_stops_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
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
        # One process: no child serves either port (the Ollama API is not a second process any more).
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert children == [], children
        chat = httpx.post(f"http://127.0.0.1:{ollama}/api/chat", timeout=60, json={
            "model": "smollm2:135m", "stream": False, "messages": [{"role": "user", "content": "Hi"}],
            "options": {"num_predict": 4}}).json()
        assert chat["done"] is True and chat["eval_count"] > 0
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
