"""The Ollama API's view of its upstream: latency and faults of each call (the proxy's Upstream reports them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from frontier.metrics.kept import Counter, Histogram
from frontier.metrics.service import REQUEST_SECONDS

_KNOWN_PATHS = frozenset(
    ("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/embeddings", "/tokenize", "/health")
)


def path_label(path: str) -> str:
    """Upstream paths the proxy calls keep their name; anything passed through `/v1/*` is `other`."""
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

    def observe(self, path: str, status: int, seconds: float) -> None:
        """One upstream answer: its latency, and an HTTP error when it is one."""
        self.seconds.labels(path_label(path), str(status)).observe(seconds)
        if status >= 400:
            self.errors.labels(f"http_{status}").inc()

    def count_fault(self, exc: BaseException) -> None:
        """A transport fault (no answer at all): the proxy's UpstreamError says which in its `kind`."""
        kind = getattr(exc, "kind", "")
        if kind in ("timeout", "unreachable"):
            self.errors.labels(kind).inc()
