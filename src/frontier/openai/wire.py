"""OpenAI wire models (requests validated strictly, responses built as plain dicts in translate.py).

Unknown request fields are accepted and logged once per name, as OpenAI-compatible servers do: clients send
fields (user, metadata, parallel_tool_calls...) that change nothing here.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger("frontier.openai")


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _note_ignored(self) -> _Request:
        if self.model_extra:
            log.debug("ignored request fields: %s", ", ".join(sorted(self.model_extra)))
        return self


class FunctionDef(BaseModel):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class FunctionChoice(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: FunctionChoice


class ToolCallFunction(BaseModel):
    name: str
    arguments: str = ""


class ToolCallIn(BaseModel):
    id: str | None = None
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_needed(self) -> ChatMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"content is required for role '{self.role}'")
        return self


class JsonSchemaFormat(BaseModel):
    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format.json_schema is required when type is 'json_schema'")
        return self


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(_Request):
    model: str = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    # Below 0.01 no sampler means anything, and a value that rounds to zero in the engine's f32 logits divides
    # by zero: 5e-324 (found by the fuzz run) made NaN logits and a failed generation (500).
    repetition_penalty: float | None = Field(None, ge=0.01, le=100)
    n: int = Field(1, ge=1, le=8)
    ignore_eos: bool = False  # vLLM's extension: keep generating past end-of-sequence up to max_tokens
    # OpenAI's: token id (as a string key) -> a bias from -100 (never) to 100 (only this token), added to logits.
    logit_bias: dict[str, float] | None = Field(None, max_length=1024)
    # Frontier extension (Ollama's keep_alive, in seconds): how long the model stays loaded once idle;
    # negative = until evicted, 0 = unload when this request ends.
    keep_alive: float | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    @model_validator(mode="after")
    def _stops(self) -> _Sampling:
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        if len(stops) > 4:
            raise ValueError("stop: at most 4 sequences are allowed")
        if any(not s for s in stops):
            raise ValueError("stop: sequences must be non-empty strings")
        return self

    @model_validator(mode="after")
    def _biases(self) -> _Sampling:
        for key, bias in (self.logit_bias or {}).items():
            if not key.isdigit():
                raise ValueError(f"logit_bias: keys are token ids, {key!r} is not one")
            if not -100 <= bias <= 100:
                raise ValueError(f"logit_bias: biases are between -100 and 100, not {bias}")
        return self

    @property
    def bias_map(self) -> dict[int, float]:
        return {int(k): v for k, v in (self.logit_bias or {}).items()}

    @property
    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, gt=0)
    suffix: str | None = None
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=5)
    best_of: int | None = Field(None, ge=1, le=1)


class TokenizeRequest(_Request):
    model: str = Field(min_length=1)
    text: str | None = None
    prompt: str | None = None

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.text is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'text' or 'prompt'")
        return self


class EmbeddingsRequest(_Request):
    model: str = Field(min_length=1)
    # A string, strings, one tokenized input, or tokenized inputs (OpenAI's four shapes).
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    # Frontier extensions: cut an input longer than the model's context (Ollama's `truncate`) instead of a 400;
    # how long the model stays loaded once idle (Ollama's keep_alive, seconds).
    truncate: bool = False
    keep_alive: float | None = None

    @model_validator(mode="after")
    def _inputs(self) -> EmbeddingsRequest:
        items = self.input if isinstance(self.input, list) else [self.input]
        if not items:
            raise ValueError("input must not be empty")
        if len(items) > 2048:
            raise ValueError("input: at most 2048 inputs per request")
        return self
