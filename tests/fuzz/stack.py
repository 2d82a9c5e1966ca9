"""The fuzz runs' live stack: both services as child processes, and what the runs sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.conftest import DEFAULT_MODEL, ServerProcess
from tests.metrics.stack import ProxyProcess


@dataclass
class FuzzStack:
    server: ServerProcess
    proxy: ProxyProcess
    models: Path
    # Cases sent, per API and operation ("POST /api/chat"): the acceptance line counts sent requests, not tests.
    sent: dict[str, Counter[str]] = field(default_factory=lambda: {"openai": Counter(), "ollama": Counter()})

    def assert_alive_and_healthy(self) -> None:
        assert self.server.proc.poll() is None, f"the server died:\n{self.server.log()}"
        assert self.proxy.proc.poll() is None, f"the proxy died:\n{self.proxy.log_path.read_text()[-3000:]}"
        health = httpx.get(f"{self.server.url}/health", timeout=10)
        assert health.status_code == 200, health.text
        version = httpx.get(f"{self.proxy.url}/api/version", timeout=10)
        assert version.status_code == 200, version.text
        # And it still generates: a crash of the engine thread would leave /health up but answers gone.
        chat = httpx.post(f"{self.server.url}/v1/chat/completions", timeout=60, json={
            "model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
        assert chat.status_code == 200, chat.text
        assert chat.json()["usage"]["completion_tokens"] >= 1
