"""The Ollama API's answers, seen through the metrics: tokens from the final object, time to first token
and inter-token latency from the streamed lines. The answers are read, never changed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from frontier.metrics.record import RequestRecord, TokenClock, current_record

A = TypeVar("A")


def metered_answer(answer: A) -> A:
    """A non-stream answer (dict) is counted now; a stream (a dataclass with `lines`) as its lines pass."""
    record = current_record()
    if record is None:
        return answer
    if isinstance(answer, dict):
        _count_final(record, answer)
        return answer
    if dataclasses.is_dataclass(answer) and hasattr(answer, "lines"):
        return dataclasses.replace(answer, lines=_metered_lines(answer.lines, record))  # type: ignore[type-var]
    return answer


def _has_token(line: dict[str, Any]) -> bool:
    message = line.get("message")
    if isinstance(message, dict):
        return bool(message.get("content") or message.get("thinking") or message.get("tool_calls"))
    return bool(line.get("response") or line.get("thinking"))


def _count_final(record: RequestRecord, answer: dict[str, Any]) -> None:
    model = answer.get("model")
    if not isinstance(model, str) or "eval_count" not in answer:
        return
    completion = int(answer.get("eval_count") or 0)
    seconds = int(answer.get("eval_duration") or 0) / 1e9
    record.add_usage(model, int(answer.get("prompt_eval_count") or 0), completion, seconds)


async def _metered_lines(lines: AsyncIterator[dict[str, Any]], record: RequestRecord) -> AsyncIterator[dict[str, Any]]:
    clock: TokenClock | None = None
    try:
        async for line in lines:
            if line.get("done"):
                _count_final(record, line)
            elif "error" in line:
                record.error_kind = record.error_kind or "stream_error"
            elif _has_token(line):
                if clock is None:
                    model = str(line.get("model") or "")
                    record.model = model
                    clock = TokenClock(record.metrics, model, record.started)
                clock.tick()
            yield line
    finally:
        await lines.aclose()  # type: ignore[attr-defined]
