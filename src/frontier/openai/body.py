"""How the OpenAI API reads a request body: FastAPI's own parsing, with the strict JSON decoder.

FastAPI parses bodies with `json.loads`, which lets a lone surrogate through (raw bytes `ED A0 80`, or a
`\\ud800` escape) to fail as a 500 when the prompt is encoded for the tokenizer. Routes built with
`StrictJSONRoute` parse with `fastjson.loads_request` instead; its error is a JSONDecodeError, which FastAPI
turns into the same 400 `invalid_json` answer as any other malformed body."""

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


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
