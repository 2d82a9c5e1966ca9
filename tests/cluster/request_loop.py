"""A steady load of short chats from client threads, recording each answer: what the fault tests run while they
kill replicas or machines, then read back ("ok", or the status and the start of the body)."""

from __future__ import annotations

import threading
from types import TracebackType

import httpx
from tests.conftest import DEFAULT_MODEL


class RequestLoop:
    def __init__(self, url: str, clients: int = 2) -> None:
        self.url = url
        self.outcomes: list[str] = []
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._loop) for _ in range(clients)]

    def _loop(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                r = client.post(f"{self.url}/v1/chat/completions", json={
                    "model": DEFAULT_MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]})
                self.outcomes.append("ok" if r.status_code == 200 else f"{r.status_code} {r.text[:200]}")

    def __enter__(self) -> RequestLoop:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=120)

    def failures(self) -> list[str]:
        return [outcome for outcome in self.outcomes if outcome != "ok"]
