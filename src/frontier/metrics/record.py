"""What is known about the request being served, shared by the middleware and the generation wrappers.

The middleware creates one `RequestRecord` per request and puts it in a ContextVar; the code that sees the
engine's deltas (or the Ollama API's answers) fills in model and tokens; the middleware then labels the request
metrics and writes the access line. A ContextVar is per-task state, copied into the tasks a request spawns.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from dataclasses import dataclass

from frontier.errors import (
    ContextLengthError,
    EngineError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
)
from frontier.metrics.service import ServiceMetrics

NO_MODEL = "none"
_RECORD: ContextVar[RequestRecord | None] = ContextVar("frontier_request_record", default=None)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ContextLengthError, "context_length"),
    (InvalidRequestError, "invalid_request"),
    (ModelNotFoundError, "model_not_found"),
    (OverloadedError, "overloaded"),
    (EngineUnavailableError, "engine_unavailable"),
)
_STATUS_KINDS = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "too_large", 422: "invalid_request", 429: "overloaded", 499: "client_gone", 500: "internal",
    501: "not_supported", 502: "upstream_error", 503: "unavailable", 504: "timeout",
}


@dataclass(slots=True)
class RequestRecord:
    metrics: ServiceMetrics
    request_id: str
    method: str
    endpoint: str = "unmatched"
    started: float = 0.0
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_kind: str = ""

    def add_usage(self, model: str, prompt: int, completion: int, completion_seconds: float) -> None:
        """Counts one generation's tokens (once per generation, when its usage is known)."""
        self.model = model
        self.prompt_tokens = (self.prompt_tokens or 0) + prompt
        self.completion_tokens = (self.completion_tokens or 0) + completion
        self.metrics.prompt_tokens.labels(model).inc(prompt)
        self.metrics.completion_tokens.labels(model).inc(completion)
        if completion > 0 and completion_seconds > 0:
            self.metrics.tokens_per_second.labels(model).observe(completion / completion_seconds)

    def model_label(self) -> str:
        return self.model or NO_MODEL


def current_record() -> RequestRecord | None:
    return _RECORD.get()


def enter(record: RequestRecord) -> object:
    return _RECORD.set(record)


def leave(token: object) -> None:
    _RECORD.reset(token)  # type: ignore[arg-type]


def error_kind(exc: BaseException) -> str:
    """A low-cardinality name for an exception: Frontier's domain errors by meaning, others by class."""
    for kind, name in _KINDS:
        if isinstance(exc, kind):
            return name
    if type(exc) is EngineError:
        return "engine_error"
    return _CAMEL.sub("_", type(exc).__name__).lower()


def status_kind(status: int) -> str:
    return _STATUS_KINDS.get(status, f"http_{status}")


class TokenClock:
    """Time to first token and inter-token latency of one generation. The labelled children are bound once,
    so a token costs one clock read and one histogram observe (no allocation beyond the float)."""

    __slots__ = ("_ttft", "_itl", "_start", "_last")

    def __init__(self, metrics: ServiceMetrics, model: str, start: float) -> None:
        self._ttft = metrics.ttft.labels(model)
        self._itl = metrics.itl.labels(model)
        self._start = start
        self._last = 0.0

    def tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self._itl.observe(now - self._last)
        else:
            self._ttft.observe(now - self._start)
        self._last = now
