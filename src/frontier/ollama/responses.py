"""Engine deltas -> Ollama responses and NDJSON lines.

Pure apart from the wall clock (created_at, durations). `StreamState` carries what a stream must gather
before its one final line: the tool calls (Ollama sends them whole, on one line), the finish reason, and
usage (the request's last delta). `Gathered` is the same for a non-streamed answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from frontier.engine.protocol import Delta, TokenLogprob, ToolCall, Usage
from frontier.ollama.clock import Stopwatch, nanos, now_rfc3339
from frontier.ollama.translate import new_tool_call_id

Kind = Literal["chat", "generate"]


def done_reason(finish_reason: str | None) -> str:
    """`length` -> `length`; stop, tool_calls, error and none -> `stop`."""
    return "length" if finish_reason == "length" else "stop"


def metrics(watch: Stopwatch, usage: Usage | None, end: float | None = None) -> dict[str, int]:
    """Ollama's counters, nanoseconds >= 1. The engine's timings are used when it gives them; otherwise
    they are measured here: prompt = engine start to first token, eval = first token to the end."""
    end = time.perf_counter() if end is None else end
    usage = usage or Usage()
    engine_start = watch.upstream_start or watch.start
    prompt_s, eval_s = usage.prompt_seconds, usage.completion_seconds
    if prompt_s <= 0 or eval_s <= 0:
        first = watch.first_token or engine_start
        prompt_s, eval_s = first - engine_start, end - first
    return {
        "total_duration": nanos(end - watch.start),
        "load_duration": nanos(engine_start - watch.start),
        "prompt_eval_count": usage.prompt_tokens,
        "prompt_eval_duration": nanos(prompt_s),
        "eval_count": usage.completion_tokens,
        "eval_duration": nanos(eval_s),
    }


def parse_arguments(text: str) -> dict[str, Any]:
    """OpenAI's argument string -> Ollama's object. "" is {}; text that is not a JSON object is kept under
    "arguments" so nothing the model wrote is lost and the client still gets an object."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"arguments": value}


def from_tool_calls(calls: Sequence[ToolCall], new_id: Callable[[], str] = new_tool_call_id) -> list[dict[str, Any]]:
    return [
        {"id": new_id(), "function": {"index": index, "name": call.name, "arguments": parse_arguments(call.arguments)}}
        for index, call in enumerate(calls)
    ]


def from_logprobs(items: Sequence[TokenLogprob]) -> list[dict[str, Any]]:
    return [
        {"token": item.token, "logprob": item.logprob,
         "top_logprobs": [{"token": token, "logprob": logprob} for token, logprob, _ in item.top]}
        for item in items
    ]  # fmt: skip


def _line(kind: Kind, model: str, text: str = "", thinking: str = "", done: bool = False) -> dict[str, Any]:
    if kind == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking:  # never "thinking": "" (litellm then drops the chunk's content)
            message["thinking"] = thinking
        return {"model": model, "created_at": now_rfc3339(), "message": message, "done": done}
    line: dict[str, Any] = {"model": model, "created_at": now_rfc3339(), "response": text}
    if thinking:
        line["thinking"] = thinking
    line["done"] = done
    return line


def empty_response(kind: Kind, model: str, reason: Literal["load", "unload"]) -> dict[str, Any]:
    """The answer to an empty prompt or empty messages: a load/unload acknowledgement, no inference."""
    return _line(kind, model, done=True) | {"done_reason": reason}


@dataclass(slots=True)
class Gathered:
    """A whole (non-streamed) answer from its deltas; `response` is Ollama's single object."""

    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None

    def add(self, d: Delta) -> None:
        if d.usage is not None:
            self.usage = d.usage
        self.text.append(d.text)
        self.thinking.append(d.reasoning)
        self.tool_calls.extend(d.tool_calls)
        self.logprobs.extend(d.logprobs)
        self.finish_reason = d.finish_reason or self.finish_reason

    def response(self, kind: Kind, model: str, watch: Stopwatch,
                 new_id: Callable[[], str] = new_tool_call_id) -> dict[str, Any]:
        out = _line(kind, model, "".join(self.text), "".join(self.thinking), done=True)
        if kind == "chat" and self.tool_calls:
            out["message"]["tool_calls"] = from_tool_calls(self.tool_calls, new_id)
        if self.logprobs:
            out["logprobs"] = from_logprobs(self.logprobs)
        out["done_reason"] = done_reason(self.finish_reason)
        return out | metrics(watch, self.usage)


@dataclass(slots=True)
class StreamState:
    kind: Kind
    model: str
    watch: Stopwatch
    new_id: Callable[[], str] = new_tool_call_id
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)

    def absorb(self, d: Delta) -> list[dict[str, Any]]:
        """One delta -> zero or more Ollama lines. Thinking and content never share a line."""
        if d.usage is not None:
            self.usage = d.usage
        if d.finish_reason:
            self.finish_reason = d.finish_reason
        if d.tool_calls:
            self.watch.mark_token()
            self.tool_calls.extend(d.tool_calls)
        lines = []
        if d.reasoning:
            lines.append(_line(self.kind, self.model, thinking=d.reasoning))
        if d.text:
            lines.append(_line(self.kind, self.model, d.text))
        if lines:
            self.watch.mark_token()
            if d.logprobs:
                lines[-1]["logprobs"] = from_logprobs(d.logprobs)
        return lines

    def finish(self) -> list[dict[str, Any]]:
        """The complete tool calls (one line, as Ollama emits them), then the one final line."""
        lines = []
        if self.tool_calls and self.kind == "chat":
            line = _line(self.kind, self.model)
            line["message"]["tool_calls"] = from_tool_calls(self.tool_calls, self.new_id)
            lines.append(line)
        final = _line(self.kind, self.model, done=True)
        final["done_reason"] = done_reason(self.finish_reason)
        lines.append(final | metrics(self.watch, self.usage))
        return lines
