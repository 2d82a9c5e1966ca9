"""The engine's own numbers as a plain dataclass, and the Prometheus gauges that show them.

The snapshot is taken when Prometheus scrapes (the engine keeps its counters anyway), so serving a token
costs nothing extra here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge

from frontier.engine.protocol import Engine


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    up: bool
    running: int = 0
    queued: int = 0
    cpu_threads: int = 0
    loaded_models: tuple[str, ...] = ()
    load_seconds: dict[str, float] = field(default_factory=dict)


async def take_snapshot(engine: Engine) -> EngineSnapshot:
    health = await engine.health()
    # The engine lists every model it can serve; only the loaded ones count here.
    loaded = [m for m in engine.models() if m.loaded and not m.alias_of]
    loads = {m.id: m.load_seconds for m in loaded if m.load_seconds > 0}
    return EngineSnapshot(health.ok, health.in_flight, health.queued, health.cpu_threads,
                          tuple(m.id for m in loaded), loads)


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge("frontier_engine_up", "1 when the engine answers and a model is loaded.", registry=registry)
        self.running = Gauge(
            "frontier_engine_running_requests", "Generations holding an engine slot.", registry=registry
        )
        self.queued = Gauge(
            "frontier_engine_queued_requests", "Generations waiting for an engine slot (queue depth).",
            registry=registry,
        )
        self.cpu_threads = Gauge(
            "frontier_engine_cpu_threads",
            "Threads the llama.cpp engine decodes with now: fewer while other processes hold cores.",
            registry=registry,
        )
        self.loaded = Gauge("frontier_model_loaded", "1 for each loaded model.", ["model"], registry=registry)
        self.load_seconds = Gauge(
            "frontier_model_load_seconds", "How long loading the model took.", ["model"], registry=registry
        )

    def update(self, snap: EngineSnapshot) -> None:
        self.up.set(1 if snap.up else 0)
        self.running.set(snap.running)
        self.queued.set(snap.queued)
        self.cpu_threads.set(snap.cpu_threads)
        self.loaded.clear()  # an unloaded model must disappear, not stay at its last value
        for model in snap.loaded_models:
            self.loaded.labels(model).set(1)
        for model, seconds in snap.load_seconds.items():
            self.load_seconds.labels(model).set(seconds)
