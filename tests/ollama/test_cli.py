"""`frontier check aider` and `frontier proxy`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from tests.conftest import free_port
from tests.ollama.conftest import MODEL


def frontier(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontier", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_check_aider_passes_every_step_against_the_live_stack(ollama_url: str) -> None:
    done = frontier("check", "aider", "--url", ollama_url, "--model", MODEL)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("PASS") == 4 and "FAIL" not in done.stderr
    assert "context window 8192" in done.stderr and "4/4 steps passed" in done.stderr


def test_check_aider_fails_loudly_when_nothing_listens() -> None:
    done = frontier("check", "aider", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "5")
    assert done.returncode == 1
    assert done.stderr.count("FAIL") == 4 and "0/4 steps passed" in done.stderr


def test_proxy_command_serves_the_layer_on_the_configured_port(openai_server: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_API_PORT": str(port),
        "FRONTIER_UPSTREAM_URL": openai_server,
        "PROXY_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "frontier", "proxy"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/tags", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "frontier proxy did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert MODEL in [m["name"] for m in response.json()["models"]]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"127.0.0.1:{port} -> {openai_server}" in stderr


def test_proxy_rejects_a_bad_setting() -> None:
    done = frontier("proxy", env={"OLLAMA_API_PORT": "99999999"}, timeout=60)
    assert done.returncode == 2 and "OLLAMA_API_PORT" in done.stderr
