"""Builds the OpenAI-compatible FastAPI app from settings and an engine. No module-level state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from frontier import __version__
from frontier.anthropic import errors as anthropic_errors
from frontier.anthropic.routes import build_anthropic_router
from frontier.engine.pool import EnginePool
from frontier.engine.protocol import Engine
from frontier.errors import ModelLoadError
from frontier.limits import BodyLimitMiddleware, Drain, DrainMiddleware, LimitedEngine, Limits
from frontier.metrics import (
    EngineMetrics,
    MeteredEngine,
    ObservabilityMiddleware,
    ServiceMetrics,
    metrics_response,
    new_registry,
    take_snapshot,
)
from frontier.models.catalog import Catalog, load_catalog
from frontier.openai import errors, openapi
from frontier.openai.registry_routes import build_registry_router
from frontier.openai.routes import build_router
from frontier.responses.routes import build_responses_router
from frontier.responses.store import ResponseStore
from frontier.security.auth import CHALLENGE
from frontier.security.policy import SecurityPolicy, install_cors, install_key_check
from frontier.ui import UI_OPEN_PREFIX, build_ui_router

log = logging.getLogger("frontier.server")


def _refuse(message: str) -> JSONResponse:
    # OpenAI's own answer to a bad key: 401, type invalid_request_error, code invalid_api_key.
    body = errors.error_body(message, "invalid_request_error", None, "invalid_api_key")
    return JSONResponse(body, 401, headers=CHALLENGE)


def create_app(
    engine: Engine, *, load_on_start: bool = True, catalog: Catalog | None = None,
    registry: CollectorRegistry | None = None, limits: Limits | None = None,
    security: SecurityPolicy | None = None, responses_dir: Path | None = None,
) -> FastAPI:
    """The server app. With an EnginePool (what `frontier serve` builds) it also offers model management
    (`/frontier/models/...`); `catalog` names what a pull may fetch (default: the built-in catalog).
    `registry` receives this app's metrics (a fresh one by default: apps never share the global one).
    `limits` bounds request sizes, max_tokens and the queue (defaults: `Limits()`); `app.state.drain` is the
    drain state a `DrainingServer` runs the app with.

    `security`: the API key, open endpoints and CORS origins (default: no key, CORS off). `responses_dir`: where
    the Responses API keeps stored responses (default: in memory only)."""
    registry = registry or new_registry()
    limits = limits or Limits()
    service_metrics, engine_metrics = ServiceMetrics(registry), EngineMetrics(registry)
    limited = LimitedEngine(engine, limits)
    metered = MeteredEngine(limited)
    drain = Drain(limits.drain_seconds, limits.retry_after)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if load_on_start:
            try:
                await engine.load()
            except ModelLoadError as exc:
                # Keep serving: /health answers 503 with this reason instead of the process dying silently.
                log.error("model load failed: %s", exc)
        yield
        await engine.close()

    app = FastAPI(
        title="Frontier OpenAI-compatible API",
        version=__version__,
        lifespan=lifespan,
        description="OpenAI-compatible inference on the mistral.rs engine.",
    )
    errors.install(app, {anthropic_errors.PREFIX: anthropic_errors.response})
    openapi.install(app)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse(errors.error_body(f"internal error: {type(exc).__name__}", "server_error"), 500)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        engine_metrics.update(await take_snapshot(engine))
        return metrics_response(registry)

    catalog = catalog or load_catalog()
    app.include_router(build_router(metered, catalog))
    app.include_router(build_anthropic_router(metered))
    app.include_router(build_responses_router(metered, ResponseStore(responses_dir)))
    if isinstance(engine, EnginePool):
        app.include_router(build_registry_router(engine, catalog))
    app.include_router(build_ui_router())
    # Added first = innermost: the access line and metrics see the 413s and 503s these answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes, render=errors.response)
    app.add_middleware(DrainMiddleware, drain=drain, render=errors.response)
    security = security or SecurityPolicy()
    install_key_check(app, security, frozenset({"/health", "/"}), _refuse, open_prefix=UI_OPEN_PREFIX,
                      dialects={anthropic_errors.PREFIX: anthropic_errors.refuse})
    app.add_middleware(ObservabilityMiddleware, metrics=service_metrics)
    install_cors(app, security)
    app.state.engine = engine
    # The engine under this app's limits: a dialect served on another port (the Ollama API in-process) shares
    # the admission queue through it, and counts its requests in its own app's metrics.
    app.state.limited = limited
    app.state.drain = drain
    app.state.metrics_registry = registry
    return app
