"""The metrics both services export (same names; Prometheus's `job` label tells the services apart).

Buckets are sized for LLM serving: requests run from milliseconds (metadata) to minutes (long generations),
the first token from a few milliseconds (tiny model, warm cache) to tens of seconds (long prompt, queued).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from frontier.metrics.kept import Counter, Histogram

REQUEST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
TTFT_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 20, 30, 60)
ITL_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5)
TOKENS_PER_SECOND = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)


def new_registry() -> CollectorRegistry:
    """A fresh registry for one app (never prometheus_client's process-wide default)."""
    return CollectorRegistry(auto_describe=True)


class ServiceMetrics:
    """HTTP and generation metrics. Labels stay low-cardinality: route templates, served model ids, status
    codes and error kinds; never prompt text or request ids."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "frontier_requests", "Requests answered, by route template, model and HTTP status.",
            ["endpoint", "model", "status"], registry=registry,
        )
        self.request_seconds = Histogram(
            "frontier_request_duration_seconds", "Time from request to the last byte of the answer.",
            ["endpoint", "model"], buckets=REQUEST_SECONDS, registry=registry,
        )
        self.in_flight = Gauge(
            "frontier_requests_in_flight", "Requests being answered now.", registry=registry
        )
        self.errors = Counter(
            "frontier_errors", "Requests that ended in an error, by kind.", ["endpoint", "kind"], registry=registry
        )
        self.ttft = Histogram(
            "frontier_time_to_first_token_seconds", "Time from request to the first generated token.",
            ["model"], buckets=TTFT_SECONDS, registry=registry,
        )
        self.itl = Histogram(
            "frontier_inter_token_latency_seconds", "Time between consecutive streamed tokens (deltas).",
            ["model"], buckets=ITL_SECONDS, registry=registry,
        )
        self.prompt_tokens = Counter(
            "frontier_prompt_tokens", "Prompt tokens processed.", ["model"], registry=registry
        )
        self.completion_tokens = Counter(
            "frontier_completion_tokens", "Completion tokens generated.", ["model"], registry=registry
        )
        self.tokens_per_second = Histogram(
            "frontier_generation_tokens_per_second", "Decode speed of each request (completion tokens / s).",
            ["model"], buckets=TOKENS_PER_SECOND, registry=registry,
        )
