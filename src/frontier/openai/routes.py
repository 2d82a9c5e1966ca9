"""HTTP glue for the OpenAI API: validate, translate, call the engine, stream or collect."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from frontier import fastjson
from frontier.engine.protocol import Delta, Engine, GenerationRequest, ModelInfo, Usage
from frontier.errors import FrontierError
from frontier.models.catalog import Catalog
from frontier.openai import translate, wire
from frontier.openai.body import StrictJSONRoute
from frontier.openai.errors import sse_error
from frontier.serving.client_gone import unless_gone
from frontier.serving.start import chained, start_unless_gone

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# `stream: true` answers are server-sent events: the document names both media types of a 200.
_STREAMED: dict[int | str, dict[str, Any]] = {200: {
    "description": "The answer (JSON), or with `stream: true` server-sent events",
    # Each event as an SSE parser sees it: `data:` carries one JSON chunk (or [DONE]), `event: error` a failure.
    "content": {"text/event-stream": {"schema": {"type": "object", "properties": {
        "data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}}}}},
}}


def _sse(obj: dict[str, Any]) -> bytes:
    # One per streamed token, on the event loop while the next token decodes on the same cores: orjson's few
    # microseconds, not the json module's tens.
    return b"data: " + fastjson.dumps(obj) + b"\n\n"


async def _collect(first: Delta | None, stream: AsyncGenerator[Delta, None]) -> tuple[
    dict[int, translate.ChoiceAccumulator], Usage
]:
    choices: dict[int, translate.ChoiceAccumulator] = {}
    usage = Usage()
    try:
        async for d in chained(first, stream):
            if d.usage is not None:
                usage = d.usage
                continue
            choices.setdefault(d.index, translate.ChoiceAccumulator()).add(d)
    finally:
        await stream.aclose()
    return choices, usage


async def _stream_events(
    first: Delta | None,
    stream: AsyncGenerator[Delta, None],
    render: Callable[[Delta, bool], dict[str, Any]],
    usage_event: Callable[[Usage], dict[str, Any]],
    include_usage: bool,
) -> AsyncIterator[bytes | str]:
    """SSE frames. Finish chunks are held back until usage arrives so the last choice chunk carries usage
    (every response reports usage); `stream_options.include_usage` adds OpenAI's separate usage chunk."""
    started: set[int] = set()
    held: list[dict[str, Any]] = []
    try:
        async for d in chained(first, stream):
            if d.usage is not None:
                if held:
                    held[-1]["usage"] = translate.usage_dict(d.usage)
                for event in held:
                    yield _sse(event)
                held = []
                if include_usage:
                    yield _sse(usage_event(d.usage))
                continue
            event = render(d, d.index not in started)
            started.add(d.index)
            if d.finish_reason:
                held.append(event)
            else:
                yield _sse(event)
        for event in held:
            yield _sse(event)
    except FrontierError as exc:
        yield sse_error(exc)
    finally:
        await stream.aclose()
    yield b"data: [DONE]\n\n"


def model_entry(m: ModelInfo, catalog: Catalog | None) -> dict[str, Any]:
    """A /v1/models entry. Past OpenAI's four fields, Frontier extensions the Ollama API reads for /api/show,
    /api/tags and /api/ps: metadata, load state, and the catalog's names for the file (so `mistral:latest`
    finds the file a pull of it fetched)."""
    entry: dict[str, Any] = {
        "id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by,
        "context_length": m.context_length, "architecture": m.architecture,
        "quantization": m.quantization, "parameter_count": m.parameter_count,
        "size_bytes": m.size_bytes, "model_type": m.model_type,
        "chat_template": m.chat_template, "capabilities": m.capabilities,
        "loaded": m.loaded, "expires_at": m.expires_at,
    }
    if m.engine:
        entry["engine"] = m.engine
    if m.alias_of:
        entry["alias_of"] = m.alias_of
    known = catalog.by_filename(Path(m.path).name) if catalog and m.path and not m.alias_of else None
    if known is not None:
        entry["catalog_name"] = known.entry.name
        entry["ollama_names"] = list(known.entry.aliases) if known.file == known.entry.file_for() else []
    return entry


def build_router(engine: Engine, catalog: Catalog | None = None) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)

    @router.get("/health", responses={503: {"description": "No model can answer; `reason` says why", "content": {
        "application/json": {"schema": {"type": "object", "required": ["status", "reason"]}}}}})
    async def health() -> JSONResponse:
        h = await engine.health()
        models = [m.id for m in engine.models() if m.loaded and not m.alias_of]  # loaded now
        body = {"status": "ok" if h.ok else "unavailable", "models": models, "device": h.device,
                "in_flight": h.in_flight, "queued": h.queued}
        if not h.ok:
            body["reason"] = h.reason
        return JSONResponse(body, status_code=200 if h.ok else 503)

    @router.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_entry(m, catalog) for m in engine.models()]}

    async def answer(request: Request, req: GenerationRequest, stream: bool, include_usage: bool,
                     whole: Callable[[dict[int, translate.ChoiceAccumulator], Usage], Any],
                     chunk: Callable[[Delta, bool], dict[str, Any]],
                     usage_chunk: Callable[[Usage], dict[str, Any]]) -> Any:
        """Both generation routes: start (a refusal is a real status), then stream chunks or collect the whole."""
        req.whole = not stream
        started = await start_unless_gone(request, engine, req)
        if started is None:
            return Response(status_code=499)  # nobody is listening; the status is for the access log
        first, deltas = started
        if not stream:
            collected = await unless_gone(request, _collect(first, deltas))
            return Response(status_code=499) if collected is None else whole(*collected)
        events = _stream_events(first, deltas, chunk, usage_chunk, include_usage)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)

    @router.post("/v1/chat/completions", response_model=None, responses=_STREAMED)
    async def chat_completions(body: wire.ChatCompletionRequest, request: Request) -> Any:
        req = translate.to_generation_request(body)
        rid, created, name = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), body.model
        return await answer(
            request, req, body.stream, bool(body.stream_options and body.stream_options.include_usage),
            lambda choices, usage: translate.chat_completion(rid, created, name, choices, usage, body.logprobs),
            lambda d, first: translate.chat_chunk(rid, created, name, d, body.logprobs, first),
            lambda u: translate.usage_chunk(rid, created, name, "chat.completion.chunk", u),
        )

    @router.post("/v1/completions", response_model=None, responses=_STREAMED)
    async def completions(body: wire.CompletionRequest, request: Request) -> Any:
        req = translate.completion_to_generation_request(body)
        rid, created, name = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()), body.model
        want_lp = body.logprobs is not None
        echo = req.prompt if body.echo and req.prompt else ""
        echoed: set[int] = set()

        def chunk(d: Delta, _first: bool) -> dict[str, Any]:
            text = d.text
            if echo and d.index not in echoed:
                echoed.add(d.index)
                text = echo + text
            return translate.completion_chunk(rid, created, name, d, text, want_lp)

        return await answer(
            request, req, body.stream, bool(body.stream_options and body.stream_options.include_usage),
            lambda choices, usage: translate.text_completion(rid, created, name, choices, usage, want_lp, echo),
            chunk, lambda u: translate.usage_chunk(rid, created, name, "text_completion", u),
        )

    @router.post("/v1/embeddings")
    async def embeddings(body: wire.EmbeddingsRequest) -> dict[str, Any]:
        result = await engine.embed(translate.to_embedding_request(body))
        return translate.embeddings_response(body, result)

    @router.post("/tokenize")
    async def tokenize(body: wire.TokenizeRequest) -> dict[str, Any]:
        """Frontier extension (vLLM has the same route): exact token counts for context budgeting."""
        text = body.text if body.text is not None else body.prompt
        tokens = await engine.tokenize(body.model, text or "")
        return {"model": body.model, "tokens": tokens, "count": len(tokens)}

    return router
