"""Ollama request bodies as pydantic models (field names and defaults from Ollama's api/types.go).

Responses are built as plain dicts by the converters in `responses.py`: their shapes are fixed by the
reference and they sit on the per-token path. Unknown request fields are ignored, as Ollama does.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from frontier.errors import InvalidRequestError

Think = bool | Literal["low", "medium", "high"]
KeepAlive = float | str
B = TypeVar("B", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _NamedBody(_Body):
    """`model`, or the older `name` field (litellm and old clients send `name`)."""

    model: str = ""

    @model_validator(mode="before")
    @classmethod
    def _name_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("model") and isinstance(data.get("name"), str):
            return {**data, "model": data["name"]}
        return data

    @field_validator("model", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class ToolCallFunction(_Body):
    index: int | None = None
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments", mode="before")
    @classmethod
    def _object_arguments(cls, value: Any) -> Any:
        # Ollama carries an object; OpenAI-minded clients send the JSON text. "" and null mean no arguments.
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("tool call arguments must be a JSON object") from None
        return value


class ToolCall(_Body):
    id: str | None = None
    function: ToolCallFunction


class Message(_Body):
    role: str
    content: str = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _lower_role(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("content", mode="before")
    @classmethod
    def _null_content(cls, value: Any) -> Any:
        return "" if value is None else value


class _Inference(_NamedBody):
    stream: bool | None = None
    format: Any = None
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive | None = None
    think: Think | None = None
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)

    @property
    def streaming(self) -> bool:
        """`stream` defaults to true when absent or null."""
        return self.stream is not False


class GenerateRequest(_Inference):
    prompt: str = ""
    suffix: str = ""
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    images: list[str] | None = None


class ChatRequest(_Inference):
    messages: list[Message] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class EmbedRequest(_NamedBody):
    input: str | list[str] = ""
    truncate: bool | None = None
    dimensions: int | None = Field(None, ge=1)
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive | None = None

    @property
    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingsRequest(_NamedBody):
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive | None = None


class ShowRequest(_NamedBody):
    verbose: bool = False


class PullRequest(_NamedBody):
    stream: bool | None = None
    insecure: bool = False


class DeleteRequest(_NamedBody):
    pass


class CopyRequest(_Body):
    source: str = ""
    destination: str = ""


def parse_body(model: type[B], data: Any) -> B:
    """Validates a decoded JSON body; the first problem becomes a 400 that names the field."""
    if not isinstance(data, dict):
        raise InvalidRequestError("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "body"
        raise InvalidRequestError(f"invalid {where}: {err['msg']}", param=where) from None
