"""Pure translations between the OpenAI wire format and Frontier's engine dataclasses. No I/O here."""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    GenerationRequest,
    Grammar,
    SamplingParams,
    TokenLogprob,
    ToolCall,
    Usage,
)
from frontier.errors import InvalidRequestError
from frontier.openai import wire


def _sampling(req: wire._Sampling, max_tokens: int | None, logprobs: bool, top_logprobs: int | None) -> SamplingParams:
    return SamplingParams(
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k if req.top_k not in (None, -1, 0) else None,
        min_p=req.min_p,
        max_tokens=max_tokens,
        stop=req.stop_list,
        seed=req.seed,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        repetition_penalty=req.repetition_penalty,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        n=req.n,
        ignore_eos=req.ignore_eos,
        logit_bias=req.bias_map,
    )


def _grammar(fmt: wire.ResponseFormat | None) -> Grammar | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return Grammar(kind="json_schema", value=json.dumps({"type": "object"}))
    assert fmt.json_schema is not None  # guaranteed by ResponseFormat's validator
    schema = fmt.json_schema.schema_
    # The engine only finds a bad schema after admission, as a generation failure; check it up front.
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(
            f"response_format.json_schema.schema is not a valid JSON schema: {exc.message}",
            param="response_format.json_schema.schema",
        ) from None
    return Grammar(kind="json_schema", value=json.dumps(schema))


def to_generation_request(req: wire.ChatCompletionRequest) -> GenerationRequest:
    if req.logprobs is False and req.top_logprobs:
        raise InvalidRequestError("top_logprobs requires logprobs=true", param="top_logprobs")
    choice = req.tool_choice
    if isinstance(choice, wire.NamedToolChoice) or choice == "required":
        raise InvalidRequestError(
            "tool_choice: only 'auto' and 'none' are supported by this engine", param="tool_choice",
            code="unsupported_value",
        )
    if choice is not None and not req.tools:
        raise InvalidRequestError("tool_choice is set but no tools were given", param="tool_choice")
    messages = [m.model_dump(exclude_none=True, by_alias=True) for m in req.messages]
    for m in messages:
        if m["role"] == "developer":  # OpenAI's newer name for the system role
            m["role"] = "system"
    effort = req.reasoning_effort
    return GenerationRequest(
        model=req.model,
        messages=messages,
        params=_sampling(req, req.max_completion_tokens or req.max_tokens, req.logprobs, req.top_logprobs),
        tools=[t.model_dump(exclude_none=True) for t in req.tools] if req.tools else None,
        tool_choice="none" if choice == "none" else ("auto" if choice == "auto" else None),
        grammar=_grammar(req.response_format),
        reasoning_effort=None if effort is None else ("off" if effort == "none" else effort),
        keep_alive=req.keep_alive,
    )


def completion_to_generation_request(req: wire.CompletionRequest) -> GenerationRequest:
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1:
        raise InvalidRequestError("prompt: exactly one prompt string per request is supported", param="prompt")
    if not prompts[0]:
        raise InvalidRequestError("prompt must not be empty", param="prompt")
    if req.suffix:
        raise InvalidRequestError(
            "suffix (fill-in-the-middle) is not supported by this model", param="suffix", code="unsupported_value"
        )
    return GenerationRequest(
        model=req.model,
        prompt=prompts[0],
        params=_sampling(req, req.max_tokens, req.logprobs is not None, req.logprobs or None),
        keep_alive=req.keep_alive,
    )


# --- responses -----------------------------------------------------------------------------------------
def usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        # Frontier extension: the engine's own timings (the Ollama API reports them as nanosecond durations).
        "prompt_seconds": round(usage.prompt_seconds, 6),
        "completion_seconds": round(usage.completion_seconds, 6),
        # OpenAI's field: prompt tokens served from the prefix cache (engines that report it; else 0).
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def tool_call_dicts(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"index": c.index, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def chat_logprobs(items: list[TokenLogprob]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": lp.token,
                "logprob": lp.logprob,
                "bytes": lp.bytes,
                "top_logprobs": [{"token": t, "logprob": v, "bytes": b} for t, v, b in lp.top],
            }
            for lp in items
        ]
    }


def completion_logprobs(items: list[TokenLogprob], offset: int = 0) -> dict[str, Any]:
    offsets, pos = [], offset
    for lp in items:
        offsets.append(pos)
        pos += len(lp.token)
    return {
        "tokens": [lp.token for lp in items],
        "token_logprobs": [lp.logprob for lp in items],
        "top_logprobs": [{t: v for t, v, _ in lp.top} for lp in items],
        "text_offset": offsets,
    }


@dataclass
class ChoiceAccumulator:
    """Collects a streamed choice into the non-stream response body."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None

    def add(self, d: Delta) -> None:
        self.text += d.text
        self.reasoning += d.reasoning
        self.tool_calls.extend(d.tool_calls)
        self.logprobs.extend(d.logprobs)
        self.finish_reason = d.finish_reason or self.finish_reason


def chat_completion(
    rid: str, created: int, model: str, choices: dict[int, ChoiceAccumulator], usage: Usage, logprobs: bool
) -> dict[str, Any]:
    out = []
    for index in sorted(choices):
        c = choices[index]
        message: dict[str, Any] = {"role": "assistant", "content": c.text if (c.text or not c.tool_calls) else None}
        if c.reasoning:
            message["reasoning_content"] = c.reasoning
        if c.tool_calls:
            calls = tool_call_dicts(c.tool_calls)
            message["tool_calls"] = [{k: v for k, v in t.items() if k != "index"} for t in calls]
        out.append({
            "index": index,
            "message": message,
            "logprobs": chat_logprobs(c.logprobs) if logprobs else None,
            "finish_reason": c.finish_reason or "stop",
        })
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": "frontier", "choices": out, "usage": usage_dict(usage),
    }


def chat_chunk(rid: str, created: int, model: str, d: Delta, logprobs: bool, first: bool) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if first:
        delta["role"] = "assistant"
    if d.text or first:
        delta["content"] = d.text
    if d.reasoning:
        delta["reasoning_content"] = d.reasoning
    if d.tool_calls:
        delta["tool_calls"] = tool_call_dicts(d.tool_calls)
    choice = {
        "index": d.index, "delta": delta,
        "logprobs": chat_logprobs(d.logprobs) if logprobs and d.logprobs else None,
        "finish_reason": d.finish_reason,
    }
    return {
        "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": "frontier", "choices": [choice],
    }


def text_completion(
    rid: str, created: int, model: str, choices: dict[int, ChoiceAccumulator], usage: Usage,
    logprobs: bool, echo_prefix: str,
) -> dict[str, Any]:
    out = [
        {
            "index": i,
            "text": echo_prefix + choices[i].text,
            "logprobs": completion_logprobs(choices[i].logprobs, len(echo_prefix)) if logprobs else None,
            "finish_reason": choices[i].finish_reason or "stop",
        }
        for i in sorted(choices)
    ]
    return {
        "id": rid, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": "frontier", "choices": out, "usage": usage_dict(usage),
    }


def completion_chunk(rid: str, created: int, model: str, d: Delta, text: str, logprobs: bool) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": "frontier",
        "choices": [{
            "index": d.index, "text": text,
            "logprobs": completion_logprobs(d.logprobs) if logprobs and d.logprobs else None,
            "finish_reason": d.finish_reason,
        }],
    }


def usage_chunk(rid: str, created: int, model: str, obj: str, usage: Usage) -> dict[str, Any]:
    return {"id": rid, "object": obj, "created": created, "model": model, "choices": [], "usage": usage_dict(usage)}


# --- embeddings ----------------------------------------------------------------------------------------
def to_embedding_request(req: wire.EmbeddingsRequest) -> EmbeddingRequest:
    raw: Any = req.input
    inputs: list[str] | list[list[int]]
    if isinstance(raw, str):
        inputs = [raw]
    elif all(isinstance(x, int) for x in raw):  # one tokenized input
        inputs = [[int(x) for x in raw]]
    else:
        inputs = list(raw)
    return EmbeddingRequest(model=req.model, inputs=inputs, truncate=req.truncate, keep_alive=req.keep_alive)


def _shortened(vector: list[float], dimensions: int | None) -> list[float]:
    """`dimensions`: the first n components, scaled back to unit length (OpenAI's shortening)."""
    if dimensions is None or dimensions >= len(vector):
        return vector
    head = vector[:dimensions]
    norm = math.sqrt(sum(x * x for x in head)) or 1.0
    return [x / norm for x in head]


def embeddings_response(req: wire.EmbeddingsRequest, result: Embeddings) -> dict[str, Any]:
    width = len(result.vectors[0]) if result.vectors else 0
    if req.dimensions is not None and req.dimensions > width:
        raise InvalidRequestError(f"dimensions: this model's vectors have {width} dimensions, not {req.dimensions}",
                                  param="dimensions")
    data = []
    for i, vector in enumerate(result.vectors):
        short = _shortened(vector, req.dimensions)
        encoded: list[float] | str = short if req.encoding_format == "float" else \
            base64.b64encode(struct.pack(f"<{len(short)}f", *short)).decode()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    return {"object": "list", "data": data, "model": req.model,
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}}
