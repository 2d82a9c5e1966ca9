"""OpenAI responses and stream chunks -> Ollama responses and NDJSON lines.

Pure apart from the wall clock (created_at, durations). `StreamState` carries what a stream must gather
before its one final line: tool-call fragments, the finish reason, and usage (which OpenAI sends in a
chunk of its own after the finish_reason chunk).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from frontier.ollama.clock import Stopwatch, nanos, now_rfc3339
from frontier.ollama.translate import new_tool_call_id
from frontier.ollama.upstream import UpstreamError

Kind = Literal["chat", "generate"]
# Per-request timings an upstream may add to `usage` (Frontier's and mistral.rs's names), in seconds.
_PROMPT_SECONDS = ("prompt_seconds", "prompt_time_sec", "total_prompt_time_sec")
_COMPLETION_SECONDS = ("completion_seconds", "completion_time_sec", "total_completion_time_sec")


_SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)


def _unreadable(what: str, exc: Exception) -> UpstreamError:
    return UpstreamError(f"the upstream sent a {what} this layer cannot read ({type(exc).__name__})")


@contextmanager
def _readable(what: str) -> Iterator[None]:
    """An upstream answer of the wrong shape (a list where an object belongs...) is the upstream's fault: it
    becomes an UpstreamError (a 502, or the stream's one error line), not a TypeError out of a stream."""
    try:
        yield
    except _SHAPE_ERRORS as exc:
        raise _unreadable(what, exc) from None


def done_reason(finish_reason: str | None) -> str:
    """OpenAI `length` -> `length`; stop, tool_calls, content_filter and null -> `stop`."""
    return "length" if finish_reason == "length" else "stop"


def _seconds(usage: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def metrics(watch: Stopwatch, usage: Mapping[str, Any] | None, end: float | None = None) -> dict[str, int]:
    """Ollama's counters, nanoseconds >= 1. Upstream timings are used when `usage` carries them; otherwise
    they are measured here: prompt = upstream start to first token, eval = first token to the end."""
    end = time.perf_counter() if end is None else end
    usage = usage or {}
    upstream_start = watch.upstream_start or watch.start
    prompt_s = _seconds(usage, _PROMPT_SECONDS)
    eval_s = _seconds(usage, _COMPLETION_SECONDS)
    if prompt_s is None or eval_s is None:
        first = watch.first_token or upstream_start
        prompt_s, eval_s = first - upstream_start, end - first
    return {
        "total_duration": nanos(end - watch.start),
        "load_duration": nanos(upstream_start - watch.start),
        "prompt_eval_count": int(usage.get("prompt_tokens") or 0),
        "prompt_eval_duration": nanos(prompt_s),
        "eval_count": int(usage.get("completion_tokens") or 0),
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


def from_openai_tool_calls(
    calls: Sequence[Mapping[str, Any]], new_id: Callable[[], str] = new_tool_call_id
) -> list[dict[str, Any]]:
    out = []
    for index, call in enumerate(calls):
        function = call.get("function") or {}
        out.append(
            {
                "id": new_id(),
                "function": {
                    "index": index,
                    "name": function.get("name") or "",
                    "arguments": parse_arguments(function.get("arguments") or ""),
                },
            }
        )
    return out


def from_openai_logprobs(logprobs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chat logprobs (`content` list) or completions logprobs (parallel lists) -> Ollama's list."""
    if not logprobs:
        return []
    if isinstance(logprobs.get("content"), list):
        return [
            {
                "token": item.get("token", ""),
                "logprob": item.get("logprob", 0.0),
                "top_logprobs": [
                    {"token": top.get("token", ""), "logprob": top.get("logprob", 0.0)}
                    for top in item.get("top_logprobs") or []
                ],
            }
            for item in logprobs["content"]
        ]
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    return [
        {
            "token": token,
            "logprob": value if value is not None else 0.0,
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in (top or {}).items()],
        }
        for token, value, top in zip(tokens, values, tops, strict=False)
    ]


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


def _choice(response: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = response.get("choices") or []
    return choices[0] if choices else {}


def _reasoning(holder: Mapping[str, Any]) -> str:
    return holder.get("reasoning_content") or holder.get("reasoning") or ""


def from_openai_response(
    response: Mapping[str, Any],
    kind: Kind,
    model: str,
    watch: Stopwatch,
    new_id: Callable[[], str] = new_tool_call_id,
) -> dict[str, Any]:
    """A non-stream chat completion or completion -> Ollama's single response object."""
    with _readable("response"):
        return _from_openai_response(response, kind, model, watch, new_id)


def _from_openai_response(
    response: Mapping[str, Any], kind: Kind, model: str, watch: Stopwatch, new_id: Callable[[], str]
) -> dict[str, Any]:
    choice = _choice(response)
    message = choice.get("message") or {}
    text = message.get("content") if "message" in choice else choice.get("text")
    out = _line(kind, model, text or "", _reasoning(message), done=True)
    if kind == "chat" and message.get("tool_calls"):
        out["message"]["tool_calls"] = from_openai_tool_calls(message["tool_calls"], new_id)
    logprobs = from_openai_logprobs(choice.get("logprobs"))
    if logprobs:
        out["logprobs"] = logprobs
    out["done_reason"] = done_reason(choice.get("finish_reason"))
    return out | metrics(watch, response.get("usage"))


def empty_response(kind: Kind, model: str, reason: Literal["load", "unload"]) -> dict[str, Any]:
    """The answer to an empty prompt or empty messages: a load/unload acknowledgement, no inference."""
    return _line(kind, model, done=True) | {"done_reason": reason}


@dataclass(slots=True)
class StreamState:
    kind: Kind
    model: str
    watch: Stopwatch
    new_id: Callable[[], str] = new_tool_call_id
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)

    def absorb(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One OpenAI chunk -> zero or more Ollama lines. Thinking and content never share a line."""
        try:  # as _readable, without a context manager's generator per token
            return self._absorb(chunk)
        except _SHAPE_ERRORS as exc:
            raise _unreadable("stream chunk", exc) from None

    def _absorb(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        choice = _choice(chunk)
        if not choice:
            return []
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") or {}
        text = delta.get("content") if "delta" in choice else choice.get("text")
        thinking = _reasoning(delta)
        for call in delta.get("tool_calls") or []:
            self._gather(call)
        lines = []
        if thinking:
            lines.append(_line(self.kind, self.model, thinking=thinking))
        if text:
            lines.append(_line(self.kind, self.model, text))
        if lines:
            self.watch.mark_token()
            logprobs = from_openai_logprobs(choice.get("logprobs"))
            if logprobs:
                lines[-1]["logprobs"] = logprobs
        return lines

    def _gather(self, call: Mapping[str, Any]) -> None:
        self.watch.mark_token()
        slot = self.tool_calls.setdefault(int(call.get("index") or 0), {"name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""

    def finish(self) -> list[dict[str, Any]]:
        """The complete tool calls (one line, as Ollama emits them), then the one final line."""
        with _readable("stream"):
            return self._finish()

    def _finish(self) -> list[dict[str, Any]]:
        lines = []
        if self.tool_calls and self.kind == "chat":
            calls = [{"function": slot} for _, slot in sorted(self.tool_calls.items())]
            line = _line(self.kind, self.model)
            line["message"]["tool_calls"] = from_openai_tool_calls(calls, self.new_id)
            lines.append(line)
        final = _line(self.kind, self.model, done=True)
        final["done_reason"] = done_reason(self.finish_reason)
        lines.append(final | metrics(self.watch, self.usage))
        return lines
