"""The server's OpenAPI document, made to say what the server does.

FastAPI documents a request-body validation failure as a 422 with its own error shape; this server answers it
with a 400 and an OpenAI error object (errors.py), as OpenAI does. Clients that generate code from the document,
and the schema-driven fuzz run (tests/fuzz), read these statuses and shapes, so they must be the real ones.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from frontier.anthropic import errors as anthropic_errors

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


# Routes of another dialect on this server answer errors in that dialect's shape.
_DIALECT_ERRORS = {anthropic_errors.PREFIX: ("AnthropicErrorResponse", anthropic_errors.ERROR_SCHEMA)}


def _error(description: str, ref: dict[str, str] = _ERROR_REF) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def describe(app: FastAPI) -> dict[str, Any]:
    """The document of `app`: every 422 becomes the 400 the error handler really sends, and every operation
    documents its other failures (unknown model, overload, engine down) as an OpenAI error object."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["ErrorResponse"] = ERROR_SCHEMA
    for name, dialect_schema in _DIALECT_ERRORS.values():
        components[name] = dialect_schema
    for path, path_item in schema.get("paths", {}).items():
        dialect = next((v for k, v in _DIALECT_ERRORS.items() if path == k or path.startswith(k + "/")), None)
        ref = {"$ref": f"#/components/schemas/{dialect[0]}"} if dialect else _ERROR_REF
        kind = "an Anthropic error object" if dialect else "an OpenAI error object"
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = _error(f"Invalid request ({kind}, type invalid_request_error)", ref)
            responses.setdefault("default", _error(f"Any other failure, as {kind}", ref))
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
