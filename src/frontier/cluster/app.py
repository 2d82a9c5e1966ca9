"""The Ray Serve application: `FrontierEngine` (one engine pool per replica, `num_cpus` = its threads, a health
check that asks the engine) behind `FrontierIngress` (Frontier's server app over `HandleEngine`).

    serve run frontier.cluster.app:build                      # or deploy/ray/serve.yaml
    frontier cluster up && frontier cluster deploy --replicas 2
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, cast

from ray import serve
from ray.serve.config import AutoscalingConfig, RequestRouterConfig

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)

ENGINE = "FrontierEngine"
APP = "frontier"
# Ray's prefix-aware router with its prefix tree on the head node (`frontier.cluster.router` says why).
PREFIX_ROUTER = "frontier.cluster.router:HeadPrefixRouter"


@serve.deployment(name=ENGINE, health_check_period_s=2, health_check_timeout_s=10, max_ongoing_requests=16)
class FrontierEngine:
    """One engine pool (the models of MISTRAL_MODELS_PATH, loaded on demand) per replica."""

    def __init__(self) -> None:
        from frontier.config import load_settings
        from frontier.engine.factory import build_engine

        self.settings = load_settings()
        self.engine = build_engine(self.settings)
        self._loaded = asyncio.Lock()
        self._load_error = ""
        self._started = False
        self._loading_done = False

    async def _ready(self) -> None:
        async with self._loaded:
            if not self._started:
                self._started = True
                try:
                    await self.engine.load()
                except Exception as exc:  # reported by health, as `frontier serve` does
                    self._load_error = str(exc)
                self._loading_done = True

    async def generate(self, _route: dict[str, Any], request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        await self._ready()
        stream = self.engine.generate(request)
        try:
            async for delta in stream:
                yield delta
        finally:
            await stream.aclose()

    async def models(self) -> list[ModelInfo]:
        await self._ready()
        return self.engine.models()

    async def tokenize(self, model: str, text: str) -> list[int]:
        await self._ready()
        return await self.engine.tokenize(model, text)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        await self._ready()
        return await self.engine.embed(request)

    async def health(self) -> EngineHealth:
        await self._ready()
        return await self.engine.health()

    async def check_health(self) -> None:
        """Serve replaces a replica whose engine failed (a load that worked once and broke since)."""
        if self._loading_done and not self._load_error:  # "still loading" is not a failure to replace
            health = await self.engine.health()
            if not health.ok:
                raise RuntimeError(f"engine unhealthy: {health.reason}")


def _server_app() -> Any:
    """Built on each ingress replica: Frontier's server app over the engine deployment's handle, with the Ollama
    API's routes (`/api/*`) beside it on the same port."""
    from frontier.cluster.handle_engine import HandleEngine
    from frontier.cluster.models import ClusterModels
    from frontier.config import load_settings
    from frontier.limits import Limits
    from frontier.models.catalog import load_catalog
    from frontier.ollama.app import InProcess
    from frontier.ollama.app import create_app as create_ollama_app
    from frontier.openai.app import create_app
    from frontier.security import SecurityPolicy

    settings = load_settings()
    app_name = serve.get_replica_context().app_name
    engine = HandleEngine(serve.get_deployment_handle(ENGINE, app_name=app_name))
    catalog = load_catalog(extra=settings.frontier_catalog)
    server = create_app(engine, load_on_start=True, catalog=catalog, limits=Limits.from_settings(settings),
                        security=SecurityPolicy.from_settings(settings),
                        responses_dir=settings.frontier_state_dir / "responses")
    ollama = create_ollama_app(settings, local=InProcess(None, server.state.limited, catalog, server,
                                                         server.state.drain, ClusterModels(engine, catalog)))
    return ByPrefix(server, [("/api/", ollama)])


class ByPrefix:
    """An ASGI app sending paths under a prefix to another app (lifespan goes to the default one)."""

    def __init__(self, default: Any, routes: list[tuple[str, Any]]) -> None:
        self.default = default
        self.routes = routes
        self.routes_by_length = sorted(routes, key=lambda r: -len(r[0]))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        app = next((a for prefix, a in self.routes_by_length if path.startswith(prefix)), self.default)
        await app(scope, receive, send)


@serve.deployment(name="FrontierIngress", max_ongoing_requests=256)
@serve.ingress(_server_app)
class FrontierIngress:
    def __init__(self, engine: Any) -> None:
        self.engine = engine  # bound so Serve deploys the engine with the ingress


def build(args: dict[str, Any] | None = None) -> Any:
    """The application. args: replicas (engine replicas, default 2), threads (CPUs per replica, default 1),
    autoscale_max (> replicas: autoscale on ongoing requests between `replicas` and it), upscale_delay_s and
    downscale_delay_s (how long the load must call for more, or fewer, replicas before Serve acts)."""
    args = args or {}
    replicas = int(args.get("replicas", 2))
    threads = int(args.get("threads", 1))
    top = int(args.get("autoscale_max", 0))
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": threads, "runtime_env": {"env_vars": {"MISTRAL_THREADS": str(threads)}}},
        "request_router_config": RequestRouterConfig(
            request_router_class=cast(Any, PREFIX_ROUTER),  # an import path; Ray's annotation says otherwise
            request_router_kwargs={"imbalanced_threshold": int(args.get("imbalanced_threshold", 4)),
                                   "match_rate_threshold": 0.1}),
    }
    if top > replicas:
        # 4 ongoing requests per replica: half its slots, so a burst has room while a new replica loads. A
        # replica costs a model load, so it goes only after the load stayed low for minutes (Serve's default).
        options["autoscaling_config"] = AutoscalingConfig(
            min_replicas=replicas, max_replicas=top, target_ongoing_requests=4,
            upscale_delay_s=float(args.get("upscale_delay_s", 10)),
            downscale_delay_s=float(args.get("downscale_delay_s", 600)))
    else:
        options["num_replicas"] = replicas
    engine = cast(Any, FrontierEngine).options(**options).bind()
    # The ingress lives on the head, beside Serve's HTTP proxy and Ray's control store: losing a worker machine
    # then only loses engine replicas, whose requests the ingress retries elsewhere.
    ingress_actor = {"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}}
    return cast(Any, FrontierIngress).options(ray_actor_options=ingress_actor).bind(engine)
