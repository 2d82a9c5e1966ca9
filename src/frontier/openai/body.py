"""How the OpenAI API reads a request body: FastAPI's own parsing, with the strict JSON decoder.

FastAPI parses bodies with `json.loads`, which lets a lone surrogate through (raw bytes `ED A0 80`, or a
`\\ud800` escape) to fail as a 500 when the prompt is encoded for the tokenizer. Routes built with
`StrictJSONRoute` parse with `fastjson.loads_request` instead; its error is a JSONDecodeError, which FastAPI
turns into the same 400 `invalid_json` answer as any other malformed body.

FastAPI also reads a body as JSON only when it is labelled so; `curl -d '{...}'` labels it a form, and the
answer was a 400 "Invalid value for 'None'". llama-server and Ollama read the body as JSON whatever its label,
and every route here takes JSON only, so a body labelled otherwise is read as JSON too (and a body that is not
JSON is a 400 `invalid_json` saying so)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from frontier import fastjson


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = fastjson.loads_request(await self.body())
        return self._json


def _labelled_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            scope = request.scope
            if not _labelled_json(request.headers.get("content-type", "")):
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
            return await handler(_StrictRequest(scope, request.receive))

        return strict
