"""`/v1/*` on the Ollama port: Ollama serves the OpenAI API (and Anthropic's, and the Responses API) on its own
port too, and takes its own model names there (`codex --oss -m smollm2:135m`). In-process the request goes to
the server app of the same process (an ASGI call, no socket); in front of an upstream it is passed through.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontier import fastjson
from frontier.engine.remote.translate import extended
from frontier.engine.remote.upstream import Upstream
from frontier.errors import FrontierError
from frontier.logs import REQUEST_ID
from frontier.metrics.middleware import HEADER as REQUEST_ID_HEADER
from frontier.ollama.api import OllamaAPI
from frontier.ollama.streaming import ClosingStreamingResponse
from frontier.serving.client_gone import cancel_on_disconnect

V1_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
# fmt: off
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                         "trailer", "transfer-encoding", "upgrade", "host"))
# fmt: on
# The request id of an answer is this app's own, which its middleware adds to every answer.
_PASSED_BACK_NOT = _HOP_BY_HOP | {"x-request-id"}
_ID_HEADER = REQUEST_ID_HEADER.lower().encode()


async def upstream_names(api: OllamaAPI, body: bytes) -> bytes:
    """The body with an Ollama model name (`smollm2:135m`) replaced by the engine's id; a body that is not
    such JSON passes unchanged."""
    try:
        data = fastjson.loads_request(body) if body[:1] == b"{" else None
    except ValueError:
        return body
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return body
    try:
        model = await api.lookup(data["model"])
    except FrontierError:  # unknown here: the server answers for it, in the dialect of the route
        return body
    return body if model.id == data["model"] else fastjson.dumps({**data, "model": model.id})


class InProcessPassthrough:
    """An ASGI endpoint: the request, names mapped, handed to the server app of this process."""

    def __init__(self, server_app: ASGIApp, api: OllamaAPI) -> None:
        self.server_app = server_app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            body = await upstream_names(self.api, body)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", _ID_HEADER)]
        headers += [(b"content-length", str(len(body)).encode()), (_ID_HEADER, REQUEST_ID.get().encode())]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # what follows the body: the client leaving

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":  # one request id on the answer: this app's
                message = {**message, "headers": [(k, v) for k, v in message.get("headers", [])
                                                  if k.lower() != _ID_HEADER]}
            await send(message)

        await self.server_app({**scope, "headers": headers}, replay, answer)


# The dialects `frontier proxy` translates itself over the remote engine when its upstream does not serve them.
TRANSLATED = ("/v1/messages", "/v1/responses")


def proxy_v1(upstream: Upstream, api: OllamaAPI, dialects: ASGIApp) -> BaseRoute:
    """/v1/* of `frontier proxy`: passed through to the upstream, with Ollama model names turned into its ids.
    Anthropic's Messages and the Responses API go through too when the upstream is a Frontier server (it serves
    them itself, with every detail: stop sequences, its context wording); before any other OpenAI-compatible
    server (one with only /v1/chat/completions) `dialects` translates them over the remote engine."""
    return Route("/v1/{path:path}", _ProxyV1(upstream, http_passthrough(upstream, api),
                                            InProcessPassthrough(dialects, api)), methods=list(V1_METHODS))


class _ProxyV1:
    """An ASGI endpoint (a class: Starlette calls a plain function with a Request instead)."""

    def __init__(self, upstream: Upstream, passthrough: BaseRoute, translated: ASGIApp) -> None:
        self.upstream = upstream
        self.passthrough: ASGIApp = passthrough.app  # type: ignore[attr-defined]
        self.translated = translated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(TRANSLATED) and not await _native(self.upstream):
            await self.translated(scope, receive, send)
        else:
            await self.passthrough(scope, receive, send)


async def _native(upstream: Upstream) -> bool:
    """The upstream is a Frontier server (its model list carries Frontier's extension fields)."""
    try:
        entries = await upstream.models()
    except FrontierError:  # down: the passthrough answers with the fault
        return True
    return any(extended(entry) for entry in entries or [])


def http_passthrough(upstream: Upstream, api: OllamaAPI) -> BaseRoute:
    """Ollama serves the OpenAI API (and Anthropic's, and the Responses API) on its own port too; here /v1/*
    goes to the upstream, with Ollama model names turned into the upstream's ids."""

    async def passthrough(request: Request) -> Response:
        body = await upstream_names(api, await request.body()) if request.method == "POST" else \
            await request.body()
        headers = {key: value for key, value in request.headers.items() if key.lower() not in _HOP_BY_HOP}
        headers.pop("content-length", None)
        path = request.path_params["path"]
        response = await cancel_on_disconnect(
            request,
            upstream.forward(request.method, f"/v1/{path}", request.url.query.encode(), headers, body),
        )
        # The upstream's request id is this app's own, which its middleware adds to every answer.
        out = {key: value for key, value in response.headers if key.lower() not in _PASSED_BACK_NOT}
        return ClosingStreamingResponse(response.body, status_code=response.status, headers=out,
                                        on_close=response.aclose)

    return Route("/v1/{path:path}", passthrough, methods=list(V1_METHODS))
