"""Prometheus metrics for the server and the Ollama API.

Every app builds its own `CollectorRegistry` (`new_registry()`) and passes it in: no global default registry,
so several apps live in one process. The engine's numbers come from plain dataclasses (`EngineSnapshot`);
Prometheus is one consumer of them.
"""

from frontier.metrics.engine import EngineMetrics, EngineSnapshot, take_snapshot
from frontier.metrics.exposition import metrics_response
from frontier.metrics.metered_engine import MeteredEngine
from frontier.metrics.middleware import ObservabilityMiddleware
from frontier.metrics.ollama_answers import metered_answer
from frontier.metrics.record import RequestRecord, current_record
from frontier.metrics.service import ServiceMetrics, new_registry
from frontier.metrics.upstream import UpstreamMetrics

__all__ = [
    "EngineMetrics",
    "EngineSnapshot",
    "MeteredEngine",
    "ObservabilityMiddleware",
    "RequestRecord",
    "ServiceMetrics",
    "UpstreamMetrics",
    "current_record",
    "metered_answer",
    "metrics_response",
    "new_registry",
    "take_snapshot",
]
