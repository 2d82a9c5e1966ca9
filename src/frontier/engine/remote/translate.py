"""The Engine protocol's types <-> an OpenAI-compatible upstream's wire format. Pure: no I/O, no clock.

A generation always goes out streamed (with usage), whatever the caller asked: the dialect in front collects a
non-streamed answer from the deltas, as it does for the in-process engines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from frontier.engine.protocol import (
    Delta,
    FinishReason,
    GenerationRequest,
    Grammar,
    ModelInfo,
    TokenLogprob,
    ToolCall,
    Usage,
)
from frontier.engine.remote.faults import UpstreamError

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
# Per-request timings an upstream may add to `usage` (Frontier's and mistral.rs's names), in seconds.
_PROMPT_SECONDS = ("prompt_seconds", "prompt_time_sec", "total_prompt_time_sec")
_COMPLETION_SECONDS = ("completion_seconds", "completion_time_sec", "total_completion_time_sec")
_FINISH: dict[str, FinishReason] = {"length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}
_OBJECT_SCHEMA = {"type": "object"}
_SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)
# Fields of Frontier's /v1/models entries no plain OpenAI-compatible server sends: their presence says the
# upstream is a Frontier server, which takes the extension fields of `request_body`.
EXTENSION_FIELDS = ("context_length", "architecture", "quantization", "parameter_count", "capabilities")


def extended(entry: Mapping[str, Any]) -> bool:
    return any(key in entry for key in EXTENSION_FIELDS)


def response_format(grammar: Grammar | None) -> dict[str, Any] | None:
    """A JSON-schema grammar as OpenAI's response_format: `{"type": "object"}` is json_object mode."""
    if grammar is None or grammar.kind != "json_schema":
        return None
    schema = json.loads(grammar.value)
    if schema == _OBJECT_SCHEMA:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "format", "schema": schema, "strict": True}}


def request_body(req: GenerationRequest, *, extensions: bool) -> tuple[str, dict[str, Any]]:
    """(path, body) for one generation. top_k, min_p, repetition_penalty, ignore_eos, keep_alive and
    enable_thinking are not OpenAI fields: they go only to an upstream that lists Frontier's extensions,
    since strict servers reject unknown fields."""
    p = req.params
    body: dict[str, Any] = {
        "model": req.model, "stream": True, "stream_options": {"include_usage": True},
        "temperature": p.temperature, "top_p": p.top_p, "max_tokens": p.max_tokens, "stop": p.stop or None,
        "seed": p.seed, "presence_penalty": p.presence_penalty, "frequency_penalty": p.frequency_penalty,
        "n": p.n if p.n != 1 else None,
        "logit_bias": {str(token): bias for token, bias in p.logit_bias.items()} or None,
        "response_format": response_format(req.grammar),
    }  # fmt: skip
    if extensions:
        body |= {"top_k": p.top_k, "min_p": p.min_p, "repetition_penalty": p.repetition_penalty,
                 "ignore_eos": p.ignore_eos or None, "keep_alive": req.keep_alive}
    if req.prompt is not None:
        body |= {"prompt": req.prompt, "suffix": req.suffix}
        if p.logprobs:
            body["logprobs"] = p.top_logprobs or 1  # the completions API takes a count here
        return COMPLETIONS_PATH, _present(body)
    body |= {"messages": req.messages, "tools": req.tools, "tool_choice": req.tool_choice,
             "reasoning_effort": req.reasoning_effort}
    if extensions and req.enable_thinking is not None:
        body["enable_thinking"] = req.enable_thinking
    if p.logprobs:
        body |= {"logprobs": True, "top_logprobs": p.top_logprobs}
    return CHAT_PATH, _present(body)


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def embeddings_body(model: str, inputs: list[str] | list[list[int]], truncate: bool | None) -> dict[str, Any]:
    """`truncate` (Ollama's, true by default there) goes only to an upstream that knows it (Frontier's server)."""
    return _present({"model": model, "input": inputs, "encoding_format": "float", "truncate": truncate})


def usage_from(raw: Mapping[str, Any]) -> Usage:
    def seconds(keys: tuple[str, ...]) -> float:
        return next((float(v) for k in keys if isinstance(v := raw.get(k), int | float) and v > 0), 0.0)

    details = raw.get("prompt_tokens_details") or {}
    return Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0),
                 completion_tokens=int(raw.get("completion_tokens") or 0),
                 prompt_seconds=seconds(_PROMPT_SECONDS), completion_seconds=seconds(_COMPLETION_SECONDS),
                 cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, Mapping) else 0)


def logprobs_from(raw: Mapping[str, Any] | None) -> list[TokenLogprob]:
    """Chat logprobs (a `content` list) or completions logprobs (parallel lists)."""
    if not raw:
        return []
    if isinstance(raw.get("content"), list):
        return [TokenLogprob(item.get("token", ""), item.get("logprob", 0.0), item.get("bytes"),
                             [(t.get("token", ""), t.get("logprob", 0.0), t.get("bytes"))
                              for t in item.get("top_logprobs") or []])
                for item in raw["content"]]  # fmt: skip
    tokens, values = raw.get("tokens") or [], raw.get("token_logprobs") or []
    tops = raw.get("top_logprobs") or [None] * len(tokens)
    return [TokenLogprob(token, value if value is not None else 0.0, None,
                         [(t, lp, None) for t, lp in (top or {}).items()])
            for token, value, top in zip(tokens, values, tops, strict=False)]  # fmt: skip


@dataclass
class ChunkReader:
    """OpenAI stream chunks -> deltas. Tool-call fragments are gathered and handed out whole with the choice's
    finish; usage (which may come twice: on the last choice chunk and in a chunk of its own) once, by `end`."""

    usage: Usage | None = None
    finished: set[int] = field(default_factory=set)
    _calls: dict[int, dict[int, dict[str, str]]] = field(default_factory=dict)

    def read(self, chunk: Any) -> list[Delta]:
        """The deltas of one chunk. A chunk of the wrong shape (a list where an object belongs...) is the
        upstream's fault: UpstreamError (a 502, or the stream's one error event), not a TypeError."""
        try:
            return self._read(chunk)
        except _SHAPE_ERRORS as exc:
            raise UpstreamError(f"the upstream sent a stream chunk this server cannot read "
                                f"({type(exc).__name__})") from None

    def _read(self, chunk: Mapping[str, Any]) -> list[Delta]:
        if isinstance(chunk.get("usage"), Mapping):
            self.usage = usage_from(chunk["usage"])
        out = []
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index") or 0)
            delta = choice.get("delta") if "delta" in choice else {"content": choice.get("text")}
            delta = delta or {}
            for call in delta.get("tool_calls") or []:
                self._gather(index, call)
            finish = choice.get("finish_reason")
            d = Delta(index=index, text=delta.get("content") or "",
                      reasoning=delta.get("reasoning_content") or delta.get("reasoning") or "",
                      logprobs=logprobs_from(choice.get("logprobs")))
            if finish:
                d.finish_reason = _FINISH.get(finish, "stop")
                d.tool_calls = self._whole_calls(index)
                self.finished.add(index)
            if d.text or d.reasoning or d.logprobs or d.finish_reason:
                out.append(d)
        return out

    def _gather(self, index: int, call: Mapping[str, Any]) -> None:
        slot = self._calls.setdefault(index, {}).setdefault(int(call.get("index") or 0),
                                                              {"id": "", "name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["id"] = slot["id"] or call.get("id") or ""
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""

    def _whole_calls(self, index: int) -> list[ToolCall]:
        calls = sorted(self._calls.pop(index, {}).items())
        return [ToolCall(id=c["id"] or f"call_{index}_{n}", name=c["name"], arguments=c["arguments"], index=n)
                for n, c in calls]

    def end(self) -> Delta:
        """The request's last delta: its usage (zeros from an upstream that sent none)."""
        return Delta(usage=self.usage or Usage())


def model_info(entry: Mapping[str, Any]) -> ModelInfo:
    """A /v1/models entry -> ModelInfo; Frontier's extension fields where the upstream sends them."""

    def number(key: str) -> int:
        value = entry.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    def text(key: str) -> str:
        value = entry.get(key)
        return value if isinstance(value, str) else ""

    capabilities = entry.get("capabilities")
    return ModelInfo(
        id=str(entry["id"]), created=number("created"), owned_by=text("owned_by") or "upstream",
        context_length=number("context_length") or number("max_model_len") or number("max_context_length"),
        architecture=text("architecture"), model_type=text("model_type"), quantization=text("quantization"),
        parameter_count=number("parameter_count"), chat_template=text("chat_template"),
        size_bytes=number("size_bytes"),
        capabilities=[str(c) for c in capabilities] if isinstance(capabilities, list) else [],
        loaded=entry.get("loaded") is not False, alias_of=text("alias_of") or None, engine=text("engine"),
    )  # fmt: skip
