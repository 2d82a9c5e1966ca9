"""Errors in Anthropic's shape: {"type": "error", "error": {"type": ..., "message": ...}}, by HTTP status."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from frontier.errors import ContextLengthError, FrontierError

PREFIX = "/v1/messages"  # every route of this dialect lives under it

# Its shape in the OpenAPI document (the fuzz run checks every answer against it).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}},
}

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error",
          503: "overloaded_error", 529: "overloaded_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _TYPES.get(status, "api_error"), "message": message}}


def response(status: int, message: str, headers: dict[str, str] | None = None,
             exc: FrontierError | None = None) -> JSONResponse:
    if isinstance(exc, ContextLengthError) and exc.limit:
        # Anthropic's own words: Claude Code recognises an overflow by them.
        message = f"prompt is too long: {exc.prompt_tokens} tokens > {exc.limit} maximum"
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def refuse(message: str) -> JSONResponse:
    """A missing or wrong key: Anthropic's 401 (its SDK sends the key as x-api-key)."""
    return response(401, message, {"WWW-Authenticate": "Bearer"})
