"""The short soak of issue 8, in CI: `scripts/soak.py` with 8 streaming clients (OpenAI SDK to the server, the
`ollama` client to the layer) for 20 s against a live stack started here. Every stream must complete without an
error, and both services must hold no more threads or file descriptors once idle than before (plus slack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import REPO, stop_process
from tests.metrics.stack import start_proxy

THREAD_SLACK, FD_SLACK = 4, 8


@pytest.fixture(scope="module")
def stack(start_server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_LOG_LEVEL": "warning"})
    proxy = start_proxy(server.url, tmp_path_factory.mktemp("soak-proxy"))
    yield server, proxy
    stop_process(proxy.proc)


def test_short_soak_every_stream_completes_and_nothing_leaks(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, proxy = stack
    report_path = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "soak.py"), "--openai-url", server.url, "--ollama-url", proxy.url,
         "--server-pid", str(server.proc.pid), "--proxy-pid", str(proxy.proc.pid), "--clients", "8",
         "--duration", "20", "--max-tokens", "8", "--thread-slack", str(THREAD_SLACK), "--fd-slack", str(FD_SLACK),
         "--json", str(report_path)],
        capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["problems"] == []
    for api in ("openai", "ollama"):
        tally = report["clients"][api]
        assert tally["errors"] == 0 and tally["incomplete"] == 0, tally
        assert tally["completed"] == tally["requests"] >= 4, tally  # each of the 4 clients of this API finished
        assert tally["tokens"] > 0
    for name in ("server", "proxy"):
        start, end = report["services"][name]["start"], report["services"][name]["end"]
        assert end["threads"] <= start["threads"] + THREAD_SLACK, (name, start, end)
        assert end["fds"] <= start["fds"] + FD_SLACK, (name, start, end)
    assert server.proc.poll() is None and proxy.proc.poll() is None
