"""The Ollama layer's view of its upstream: latency and faults, observed through httpx event hooks, and the
request id passed on so both sides log the same one."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from frontier.logs import REQUEST_ID
from frontier.metrics.middleware import HEADER
from frontier.metrics.service import REQUEST_SECONDS

_KNOWN_PATHS = frozenset(
    ("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/embeddings", "/tokenize", "/health")
)
_STARTED = "frontier_started"


def path_label(path: str) -> str:
    """Upstream paths the layer calls keep their name; anything passed through `/v1/*` is `other`."""
    return path if path in _KNOWN_PATHS else "other"


class UpstreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "frontier_upstream_request_duration_seconds",
            "Time until the upstream answered (response headers; for streams, before the first token).",
            ["path", "status"], buckets=REQUEST_SECONDS, registry=registry,
        )
        self.errors = Counter(
            "frontier_upstream_errors", "Upstream calls that failed: HTTP errors by status, or transport faults.",
            ["kind"], registry=registry,
        )

    def count_fault(self, exc: BaseException) -> None:
        """A transport fault (no response at all), found as the cause of the layer's UpstreamError."""
        cause = exc.__cause__
        if isinstance(cause, httpx.TimeoutException):
            self.errors.labels("timeout").inc()
        elif isinstance(cause, httpx.TransportError):
            self.errors.labels("unreachable").inc()


def instrument_client(client: httpx.AsyncClient, metrics: UpstreamMetrics) -> None:
    """Adds hooks to `client`: X-Request-ID on every request, latency and HTTP errors on every response."""

    async def on_request(request: httpx.Request) -> None:
        rid = REQUEST_ID.get()
        if rid != "-":
            request.headers[HEADER] = rid
        request.extensions[_STARTED] = time.perf_counter()

    async def on_response(response: httpx.Response) -> None:
        started: Any = response.request.extensions.get(_STARTED)
        status = response.status_code
        if isinstance(started, float):
            metrics.seconds.labels(path_label(response.request.url.path), str(status)).observe(
                time.perf_counter() - started
            )
        if status >= 400:
            metrics.errors.labels(f"http_{status}").inc()

    hooks = client.event_hooks
    client.event_hooks = {
        "request": [*hooks.get("request", []), on_request],
        "response": [*hooks.get("response", []), on_response],
    }
