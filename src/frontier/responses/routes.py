"""HTTP glue for the Responses API: validate, translate, call the engine, stream typed events or collect,
store for previous_response_id."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from frontier import fastjson
from frontier.engine.collected import collect
from frontier.engine.protocol import Delta, Engine
from frontier.errors import ContextLengthError, FrontierError, InvalidRequestError
from frontier.openai.body import StrictJSONRoute
from frontier.openai.routes import SSE_HEADERS
from frontier.responses import render, translate, wire
from frontier.responses.store import ResponseStore
from frontier.serving.client_gone import unless_gone
from frontier.serving.start import start_unless_gone

_STREAMED: dict[int | str, dict[str, Any]] = {200: {
    "description": "The response (JSON), or with `stream: true` typed server-sent events",
    "content": {"text/event-stream": {"schema": {"type": "object", "properties": {
        "event": {"type": "string"}, "data": {"type": "string"}}}}},
}}


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + fastjson.dumps(event) + b"\n\n"


def _previous(store: ResponseStore, rid: str | None) -> list[dict[str, Any]]:
    if rid is None:
        return []
    record = store.get(rid)
    if record is None:
        raise InvalidRequestError(f"Previous response with id '{rid}' not found.", param="previous_response_id",
                                  code="previous_response_not_found")
    return list(record["conversation"])


def _keep(store: ResponseStore, req: wire.ResponsesRequest, plan: translate.Plan, final: dict[str, Any],
          items: list[dict[str, Any]]) -> None:
    if req.store:
        store.put(final["id"], {"response": final, "conversation": plan.conversation + render.as_turns(items)})


async def _events(first: Delta | None, stream: AsyncGenerator[Delta, None], out: render.StreamTranslator,
                  store: ResponseStore, plan: translate.Plan) -> AsyncIterator[bytes]:
    try:
        for event in out.start():
            yield _sse(event)
        if first is not None:
            for event in out.push(first):
                yield _sse(event)
        async for d in stream:
            for event in out.push(d):
                yield _sse(event)
        events, final, items = out.finish()
        _keep(store, out.req, plan, final, items)
        for event in events:
            yield _sse(event)
    except FrontierError as exc:  # the status line is sent: the failure is response.failed
        yield _sse(out.failed(str(exc)))
    finally:
        await stream.aclose()


def build_responses_router(engine: Engine, store: ResponseStore) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute, tags=["Responses"])

    @router.post("/v1/responses", response_model=None, responses=_STREAMED)
    async def create(body: wire.ResponsesRequest, request: Request) -> Any:
        plan = translate.to_plan(body, _previous(store, body.previous_response_id))
        plan.request.whole = not body.stream
        try:
            started = await start_unless_gone(request, engine, plan.request)
        except ContextLengthError as exc:
            exc.param = "input"  # what the caller sent here (the engine names its messages)
            raise
        if started is None:
            return Response(status_code=499)  # nobody is listening; the status is for the access log
        first, stream = started
        ids = render.Ids()
        if body.stream:
            out = render.StreamTranslator(ids, body, plan.forced, plan.warnings)
            return StreamingResponse(_events(first, stream, out, store, plan), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        collected = await unless_gone(request, collect(first, stream))
        if collected is None:  # the client left: the generation was stopped for it
            return Response(status_code=499)
        c = collected
        items = render.output_items(ids, c, plan.forced)
        status = "incomplete" if c.finish == "length" else "completed"
        final = render.response(ids, body, status, items, c.usage, plan.warnings, c.finish)
        _keep(store, body, plan, final, items)
        return final

    @router.get("/v1/responses/{response_id}")
    async def retrieve(response_id: str) -> dict[str, Any]:
        record = store.get(response_id)
        if record is None:
            raise HTTPException(404, f"No response with id '{response_id}' is stored.")
        return dict(record["response"])

    @router.delete("/v1/responses/{response_id}")
    async def delete(response_id: str) -> dict[str, Any]:
        if not store.delete(response_id):
            raise HTTPException(404, f"No response with id '{response_id}' is stored.")
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    @router.post("/v1/responses/input_tokens")
    async def input_tokens(body: wire.InputTokensRequest) -> dict[str, Any]:
        """The input's tokens under the model's tokenizer (the chat template's markup not counted)."""
        text = translate.count_text(body, _previous(store, body.previous_response_id))
        return {"object": "response.input_tokens", "input_tokens": len(await engine.tokenize(body.model, text))}

    return router
