"""HTTP glue for the Anthropic Messages API: validate, translate, call the engine, stream events or collect."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from frontier import fastjson
from frontier.anthropic import render, translate, wire
from frontier.anthropic.errors import error_body
from frontier.engine.collected import collect
from frontier.engine.protocol import Delta, Engine
from frontier.errors import FrontierError
from frontier.openai import errors as openai_errors
from frontier.openai.body import StrictJSONRoute
from frontier.openai.routes import SSE_HEADERS
from frontier.serving.client_gone import unless_gone
from frontier.serving.start import start_unless_gone

# `stream: true` answers are server-sent events: the document names both media types of a 200.
_STREAMED: dict[int | str, dict[str, Any]] = {200: {
    "description": "The message (JSON), or with `stream: true` Anthropic's server-sent events",
    "content": {"text/event-stream": {"schema": {"type": "object", "properties": {
        "event": {"type": "string"}, "data": {"type": "string"}}}}},
}}


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + fastjson.dumps(data) + b"\n\n"


async def _events(first: Delta | None, stream: AsyncGenerator[Delta, None],
                  out: render.StreamTranslator) -> AsyncIterator[bytes]:
    try:
        for kind, data in out.start():
            yield _event(kind, data)
        if first is not None:
            for kind, data in out.push(first):
                yield _event(kind, data)
        async for d in stream:
            for kind, data in out.push(d):
                yield _event(kind, data)
        for kind, data in out.finish():
            yield _event(kind, data)
    except FrontierError as exc:  # the status line is sent: the failure is an error event, as Anthropic sends
        status, _, _ = openai_errors.render(exc)
        yield _event("error", error_body(status if status >= 500 else 500, str(exc)))
    finally:
        await stream.aclose()


def build_anthropic_router(engine: Engine) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute, tags=["Anthropic Messages"])

    @router.post("/v1/messages", response_model=None, responses=_STREAMED)
    async def messages(body: wire.MessagesRequest, request: Request) -> Any:
        req, plan = translate.to_generation_request(body)
        mid, tool_id = f"msg_{uuid.uuid4().hex[:24]}", f"toolu_{uuid.uuid4().hex[:24]}"
        req.whole = not body.stream
        started = await start_unless_gone(request, engine, req)
        if started is None:
            return Response(status_code=499)  # nobody is listening; the status is for the access log
        first, stream = started
        if body.stream:
            out = render.StreamTranslator(mid, body.model, plan, tool_id)
            return StreamingResponse(_events(first, stream, out), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        collected = await unless_gone(request, collect(first, stream))
        if collected is None:  # the client left: the generation was stopped for it
            return Response(status_code=499)
        return render.message(mid, body.model, collected, plan, tool_id)

    @router.post("/v1/messages/count_tokens")
    async def count_tokens(body: wire.CountTokensRequest) -> dict[str, int]:
        """The conversation's tokens under the model's tokenizer (the chat template's markup not counted)."""
        tokens = await engine.tokenize(body.model, translate.count_text(body))
        return {"input_tokens": len(tokens)}

    return router
