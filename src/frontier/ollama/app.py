"""The HTTP glue: routes, body reading, and the one place errors are rendered in Ollama's dialect.

Plain Starlette, not FastAPI: every route reads its own body (Ollama's rules, not FastAPI's validation) and
the app publishes its OpenAPI document from openapi.yaml, so FastAPI's per-request work (dependency
solving, telemetry lookups, its route matching) would be pure cost on the path each request takes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from frontier import fastjson
from frontier.anthropic import errors as anthropic_errors
from frontier.config import Settings, load_settings
from frontier.engine.pool import EnginePool
from frontier.engine.protocol import Engine
from frontier.engine.remote.engine import RemoteEngine
from frontier.engine.remote.faults import UpstreamError, UpstreamRejected
from frontier.engine.remote.upstream import DEFAULT_TIMEOUT, Upstream
from frontier.errors import (
    FrontierError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
    PayloadTooLargeError,
)
from frontier.limits import BodyLimitMiddleware, Drain, DrainMiddleware, Limits
from frontier.limits.policy import check_prompt
from frontier.metrics import (
    ObservabilityMiddleware,
    ServiceMetrics,
    UpstreamMetrics,
    current_record,
    metered_answer,
    metrics_response,
    new_registry,
)
from frontier.metrics.record import error_kind
from frontier.models.catalog import Catalog
from frontier.ollama.answer import Stream
from frontier.ollama.api import NotSupportedError, OllamaAPI
from frontier.ollama.clock import Stopwatch
from frontier.ollama.local import LocalModels
from frontier.ollama.names import ModelMap
from frontier.ollama.passthrough import V1_METHODS, InProcessPassthrough, proxy_v1
from frontier.ollama.source import ModelSource, RemoteModels
from frontier.ollama.streaming import (
    ndjson_response,
)
from frontier.ollama.wire import (
    ChatRequest,
    CopyRequest,
    DeleteRequest,
    EmbeddingsRequest,
    EmbedRequest,
    GenerateRequest,
    PullRequest,
    ShowRequest,
    parse_body,
)
from frontier.security.auth import CHALLENGE
from frontier.security.policy import SecurityPolicy, install_cors, install_key_check
from frontier.serving.client_gone import ClientGone, cancel_on_disconnect

log = logging.getLogger("frontier.ollama")

# Reported by /api/version: numeric semver (some clients reject others), a release whose API this covers:
# 0.14 serves Anthropic's /v1/messages and OpenAI's /v1/responses beside /v1/chat/completions (here the /v1
# passthrough reaches the server's), and Codex refuses an Ollama older than 0.13.4.
OLLAMA_VERSION = "0.14.0"


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSON answer, encoded by orjson (every non-stream answer takes this path)."""

    def render(self, content: Any) -> bytes:
        return fastjson.dumps(content)


# What the stack's health checks and clients' "is it running" probes call: open unless FRONTIER_OPEN_HEALTH=false.
OPEN_HEALTH_PATHS = frozenset({"/", "/api/version"})


def _refuse(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, 401, headers=CHALLENGE)


def _status(exc: Exception) -> int:
    if isinstance(exc, UpstreamError | UpstreamRejected):
        return exc.status
    for kind, status in (
        (PayloadTooLargeError, 413),
        (InvalidRequestError, 400),
        (ModelNotFoundError, 404),
        (NotSupportedError, 501),
        (OverloadedError, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 500


def error_response(exc: Exception) -> Response:
    """Every error leaves as {"error": "..."} with a real status."""
    if isinstance(exc, ClientGone):
        return Response(status_code=499)  # nobody is listening; uvicorn drops it
    if isinstance(exc, HTTPException):
        return JSONResponse({"error": f"{exc.status_code} {str(exc.detail).lower()}"}, exc.status_code)
    message = f"model '{exc.model}' not found" if isinstance(exc, ModelNotFoundError) else str(exc)
    status = _status(exc)
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, message)
    retry_after = _retry_after(exc)
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return JSONResponse({"error": message or type(exc).__name__}, status_code=status, headers=headers)


def _retry_after(exc: Exception) -> float | None:
    """Seconds a busy or draining service (this one or its upstream) asks a client to wait."""
    if isinstance(exc, OverloadedError):
        return exc.retry_after
    if isinstance(exc, UpstreamError):
        return exc.retry_after
    return None


async def read_json(request: Request) -> Any:
    """The body as JSON whatever the Content-Type says (curl examples send form-encoded headers).
    Its size is bounded before it gets here (BodyLimitMiddleware)."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequestError("missing request body")
    try:
        return fastjson.loads_request(raw)
    except fastjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"invalid JSON in request body: {exc.msg}") from None


async def _handle(request: Request, exc: Exception) -> Response:
    record = current_record()
    if record is not None and not isinstance(exc, HTTPException | ClientGone):
        record.error_kind = error_kind(exc)
    if isinstance(exc, UpstreamError):
        request.app.state.upstream_metrics.count_fault(exc)
    return error_response(exc)


def _render(answer: dict[str, Any] | Stream) -> Response:
    answer = metered_answer(answer)
    if isinstance(answer, Stream):
        return ndjson_response(answer.lines, on_close=answer.aclose)
    return JSONResponse(answer)


@dataclass(frozen=True, slots=True)
class InProcess:
    """The server this app shares a process with (`frontier run`): its engine pool under the server's limits
    (one admission queue for both ports; this app counts its own requests in its own metrics, so each request
    is counted once, on the port it came in), its catalog, its app (for /v1/* on this port) and its drain.
    `source`: where the models come from when not from a pool of this process (a Ray Serve ingress)."""

    pool: EnginePool | None
    engine: Engine
    catalog: Catalog
    server_app: Any
    drain: Drain
    source: ModelSource | None = None


def create_app(
    settings: Settings | None = None,
    *,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    registry: CollectorRegistry | None = None,
    local: InProcess | None = None,
) -> Starlette:
    """The Ollama-compatible app: over this process's engines (`local`), or in front of `settings.upstream_url`
    through the remote engine. `timeout` bounds the upstream calls (tests shorten it). `registry` receives the
    app's metrics (a fresh one by default). `app.state.drain` is the drain state a `DrainingServer` runs the app
    with (the server's own when in-process: one drain for the process)."""
    settings = settings or load_settings()
    limits = Limits.from_settings(settings)
    registry = registry or new_registry()
    upstream_metrics = UpstreamMetrics(registry)
    names = ModelMap.load(settings.frontier_model_map)
    upstream: Upstream | None = None
    if local is not None:
        drain = local.drain
        if local.source is not None:
            source: ModelSource = local.source
        else:
            assert local.pool is not None, "in-process without a model source needs the engine pool"
            source = LocalModels(local.pool, local.engine, local.catalog)
        api = OllamaAPI(local.engine, source, names)
        v1: list[BaseRoute] = [Route("/v1/{path:path}", InProcessPassthrough(local.server_app, api),
                                     methods=list(V1_METHODS))]
    else:
        drain = Drain(limits.drain_seconds, limits.retry_after)
        upstream = Upstream(settings.upstream_url, timeout=timeout, api_key=settings.upstream_api_key,
                            observe=upstream_metrics.observe)
        remote = RemoteEngine(upstream)
        api = OllamaAPI(remote, RemoteModels(upstream), names)
        v1 = [proxy_v1(upstream, api, _dialect_app(remote, settings, limits))]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if upstream is not None:
            await upstream.aclose()

    async def metrics(_: Request) -> Response:
        return metrics_response(registry)

    # Starlette tries routes in order: the ones every chat and completion takes come first.
    routes = [
        *_inference_routes(api, limits),
        *_meta_routes(api),
        Route("/metrics", metrics, methods=["GET"]),
        *v1,
    ]
    # Domain errors are answers, not faults; the bare Exception handler is for real internal faults (500).
    handlers = {kind: _handle for kind in (FrontierError, ClientGone, HTTPException, Exception)}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.api = api
    app.state.upstream_metrics = upstream_metrics
    app.state.metrics_registry = registry
    app.state.drain = drain

    # Added first = innermost: the access line and metrics see the 413s and 503s these answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes, render=error_response)
    app.add_middleware(DrainMiddleware, drain=drain, render=error_response)
    security = SecurityPolicy.from_settings(settings)
    # /v1/* passes through to the server, where /v1/messages is Anthropic's API: its 401 is in that dialect.
    install_key_check(app, security, OPEN_HEALTH_PATHS, _refuse,
                      dialects={anthropic_errors.PREFIX: anthropic_errors.refuse})
    app.add_middleware(ObservabilityMiddleware, metrics=ServiceMetrics(registry))
    install_cors(app, security)
    return app


def _dialect_app(engine: Engine, settings: Settings, limits: Limits) -> Any:
    """The server's app over the remote engine, for the dialects the proxy translates itself. This app checks the
    key and counts the request (its middleware runs first); the inner app's own metrics are not scraped."""
    from frontier.openai.app import create_app as create_server_app

    return create_server_app(engine, load_on_start=False, limits=limits,
                             responses_dir=settings.frontier_state_dir / "responses")


def _meta_routes(api: OllamaAPI) -> list[BaseRoute]:
    async def root(_: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(_: Request) -> Response:
        return JSONResponse({"version": OLLAMA_VERSION})

    async def tags(_: Request) -> Response:
        return JSONResponse(await api.tags())

    async def ps(_: Request) -> Response:
        return JSONResponse(await api.ps())

    async def show(request: Request) -> Response:
        req = parse_body(ShowRequest, await read_json(request))
        return JSONResponse(await api.show(req.model))

    async def pull(request: Request) -> Response:
        req = parse_body(PullRequest, await read_json(request))
        answer = await api.pull(req.model, req.stream is not False)
        if isinstance(answer, dict) and "error" in answer:
            return JSONResponse(answer, status_code=502)
        return _render(answer)

    async def delete(request: Request) -> Response:
        req = parse_body(DeleteRequest, await read_json(request))
        await api.delete(req.model)
        return Response(status_code=200)

    async def copy(request: Request) -> Response:
        req = parse_body(CopyRequest, await read_json(request))
        await api.copy(req.source, req.destination)
        return Response(status_code=200)

    async def authoring(_: Request) -> Response:
        raise NotSupportedError(
            "model authoring (create, push, blobs) is not supported by this server: "
            "models come from its upstream; add names with FRONTIER_MODEL_MAP"
        )

    # A GET route answers HEAD too.
    return [
        Route("/", root, methods=["GET"]),
        Route("/api/version", version, methods=["GET"]),
        Route("/api/tags", tags, methods=["GET"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/show", show, methods=["POST"]),
        Route("/api/pull", pull, methods=["POST"]),
        Route("/api/delete", delete, methods=["DELETE"]),
        Route("/api/copy", copy, methods=["POST"]),
        Route("/api/create", authoring, methods=["POST"]),
        Route("/api/push", authoring, methods=["POST"]),
        Route("/api/blobs/{digest}", authoring, methods=["HEAD", "POST"]),
    ]


def _inference_routes(api: OllamaAPI, limits: Limits) -> list[BaseRoute]:
    async def generate(request: Request) -> Response:
        watch = Stopwatch.started()
        req = parse_body(GenerateRequest, await read_json(request))
        check_prompt(limits, 1, sum(len(text or "") for text in (req.prompt, req.system, req.suffix)), "prompt")
        return _render(await cancel_on_disconnect(request, api.generate(req, watch)))

    async def chat(request: Request) -> Response:
        watch = Stopwatch.started()
        req = parse_body(ChatRequest, await read_json(request))
        check_prompt(limits, len(req.messages), sum(len(message.content) for message in req.messages))
        return _render(await cancel_on_disconnect(request, api.chat(req, watch)))

    async def embed(request: Request) -> Response:
        watch = Stopwatch.started()
        req = parse_body(EmbedRequest, await read_json(request))
        return JSONResponse(await cancel_on_disconnect(request, api.embed(req, watch)))

    async def embeddings(request: Request) -> Response:
        watch = Stopwatch.started()
        req = parse_body(EmbeddingsRequest, await read_json(request))
        return JSONResponse(await cancel_on_disconnect(request, api.embeddings(req, watch)))

    return [
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/embeddings", embeddings, methods=["POST"]),
    ]


