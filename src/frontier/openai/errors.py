"""Renders Frontier's errors once, in OpenAI's dialect: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontier.engine.remote.faults import UpstreamError, UpstreamRejected
from frontier.errors import (
    ContextLengthError,
    DownloadError,
    DrainingError,
    EngineError,
    EngineUnavailableError,
    FrontierError,
    InvalidRequestError,
    ModelLoadError,
    ModelNotFoundError,
    OverloadedError,
    PayloadTooLargeError,
)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def render(exc: FrontierError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for a domain error."""
    if isinstance(exc, UpstreamRejected):  # the upstream behind `frontier proxy` refused: its status and words
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        return exc.status, error_body(str(exc), kind, None, None), {}
    if isinstance(exc, UpstreamError):  # down, slow or broken: 502 / 503
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else {}
        return exc.status, error_body(str(exc), "server_error", None, "upstream_error"), headers
    if isinstance(exc, ModelNotFoundError):
        return 404, error_body(str(exc), "invalid_request_error", "model", "model_not_found"), {}
    if isinstance(exc, PayloadTooLargeError):
        return 413, error_body(str(exc), "invalid_request_error", None, exc.code), {}
    if isinstance(exc, ContextLengthError):
        return 400, error_body(str(exc), "invalid_request_error", exc.param, exc.code), {}
    if isinstance(exc, InvalidRequestError):
        return 400, error_body(str(exc), "invalid_request_error", exc.param, exc.code or "invalid_value"), {}
    if isinstance(exc, DrainingError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return 503, error_body(str(exc), "server_error", None, "draining"), headers
    if isinstance(exc, OverloadedError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return 429, error_body(str(exc), "rate_limit_error", None, "overloaded"), headers
    if isinstance(exc, ModelLoadError):
        return 503, error_body(str(exc), "server_error", "model", "model_load_failed"), {}
    if isinstance(exc, DownloadError):
        return 502, error_body(str(exc), "server_error", None, "download_failed"), {}
    if isinstance(exc, EngineUnavailableError):
        return 503, error_body(str(exc), "server_error", None, "model_not_loaded"), {"Retry-After": "5"}
    if isinstance(exc, EngineError):
        return 500, error_body(str(exc), "server_error", None, "engine_error"), {}
    return 500, error_body(str(exc), "server_error", None, None), {}


def response(exc: FrontierError) -> Response:
    """A domain error as a whole HTTP response (what middleware sends before any route runs)."""
    status, body, headers = render(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def sse_error(exc: FrontierError) -> str:
    """An error event mid-stream: the status line is already sent, so the body carries it."""
    _, body, _ = render(exc)
    return f"data: {json.dumps(body)}\n\n"


def _loc_to_param(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or None


# Another dialect's error renderer, for its routes on this app: (status, message, headers, the domain error
# where there is one) -> response.
DialectRenderer = Callable[[int, str, "dict[str, str] | None", "FrontierError | None"], Response]


def install(app: FastAPI, dialects: dict[str, DialectRenderer] | None = None) -> None:
    """OpenAI's error shape for every route, but those under a prefix in `dialects`, which get their own."""
    dialects = dialects or {}

    def other(request: Request) -> DialectRenderer | None:
        path = request.url.path
        return next((r for prefix, r in dialects.items() if path == prefix or path.startswith(prefix + "/")), None)

    @app.exception_handler(FrontierError)
    async def _domain(request: Request, exc: FrontierError) -> Response:
        status, body, headers = render(exc)
        if (alt := other(request)) is not None:
            return alt(status, str(exc), headers, exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx") or {}
            message = f"Invalid JSON body: {ctx.get('error', first['msg']) if isinstance(ctx, dict) else first['msg']}"
            if (alt := other(request)) is not None:
                return alt(400, message, None, None)
            return JSONResponse(error_body(message, "invalid_request_error", None, "invalid_json"), 400)
        param = _loc_to_param(tuple(first["loc"]))
        if first.get("type") == "missing":
            message, code = f"Missing required parameter: '{param}'", "missing_required_parameter"
        else:
            message, code = f"Invalid value for '{param}': {first['msg']}", "invalid_value"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        if (alt := other(request)) is not None:
            return alt(400, message, None, None)
        return JSONResponse(error_body(message, "invalid_request_error", param, code), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (alt := other(request)) is not None:
            return alt(exc.status_code, str(exc.detail), getattr(exc, "headers", None), None)
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        return JSONResponse(
            error_body(str(exc.detail), "invalid_request_error", None, code), exc.status_code,
            headers=getattr(exc, "headers", None),
        )
