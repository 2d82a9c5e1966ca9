"""Engine deltas -> Ollama objects and NDJSON lines: table-driven, no server. The stream tables start from the
OpenAI chunks an upstream sends, read by the remote engine (the proxy arrangement's whole way back)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from frontier.engine.protocol import Delta, ToolCall, Usage
from frontier.engine.remote.translate import ChunkReader, logprobs_from, usage_from
from frontier.ollama.clock import Stopwatch
from frontier.ollama.responses import (
    Gathered,
    StreamState,
    done_reason,
    empty_response,
    from_logprobs,
    metrics,
    parse_arguments,
)

METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
USED = Usage(prompt_tokens=7, completion_tokens=3)


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter):08d}"


def chunk(
    content: str | None = None,
    reasoning: str | None = None,
    finish: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "stop"),
        ("content_filter", "stop"),
        (None, "stop"),
        ("error", "stop"),
    ],
)
def test_done_reason_is_stop_or_length(finish: str | None, expected: str) -> None:
    assert done_reason(finish) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("  ", {}),
        ('{"a": 1}', {"a": 1}),
        ("[1]", {"arguments": [1]}),
        ("oops", {"arguments": "oops"}),
    ],
)
def test_tool_arguments_become_objects(text: str, expected: dict[str, Any]) -> None:
    assert parse_arguments(text) == expected


def test_metrics_are_nanoseconds_never_zero() -> None:
    watch = Stopwatch(start=10.0)
    got = metrics(watch, None, end=10.0)
    assert got == {
        "total_duration": 1,
        "load_duration": 1,
        "prompt_eval_count": 0,
        "prompt_eval_duration": 1,
        "eval_count": 0,
        "eval_duration": 1,
    }


def test_metrics_measure_ttft_and_decode_time_here() -> None:
    watch = Stopwatch(start=1.0, upstream_start=1.001, first_token=1.5)
    got = metrics(watch, USED, end=2.0)
    assert got["total_duration"] == 1_000_000_000
    assert got["load_duration"] == pytest.approx(1_000_000, rel=1e-3)
    assert got["prompt_eval_duration"] == pytest.approx(499_000_000, rel=1e-3)
    assert got["eval_duration"] == 500_000_000
    assert (got["prompt_eval_count"], got["eval_count"]) == (7, 3)


def test_metrics_prefer_upstream_timings_when_given() -> None:
    used = usage_from(USAGE | {"prompt_seconds": 0.25, "completion_seconds": 0.5})
    got = metrics(Stopwatch(start=0.0), used, end=1.0)
    assert (got["prompt_eval_duration"], got["eval_duration"]) == (250_000_000, 500_000_000)


def _gathered(kind: Any, *deltas: Delta) -> dict[str, Any]:
    gathered = Gathered()
    for d in (*deltas, Delta(usage=USED)):
        gathered.add(d)
    return gathered.response(kind, "smollm2", Stopwatch.started(), ids())


def test_non_stream_chat_with_reasoning_and_tool_calls() -> None:
    out = _gathered("chat", Delta(reasoning="hmm"), Delta(
        finish_reason="tool_calls", tool_calls=[ToolCall(id="x", name="add", arguments='{"a":1}')]))
    assert out["model"] == "smollm2" and out["done"] is True and out["done_reason"] == "stop"
    assert out["message"] == {
        "role": "assistant",
        "content": "",
        "thinking": "hmm",
        "tool_calls": [{"id": "call_00000001", "function": {"index": 0, "name": "add", "arguments": {"a": 1}}}],
    }
    assert all(isinstance(out[key], int) and out[key] >= 1 for key in METRICS)
    assert out["created_at"].endswith("Z")


def test_non_stream_generate_uses_the_response_field() -> None:
    out = _gathered("generate", Delta(text="hel"), Delta(text="lo", finish_reason="length"))
    assert out["response"] == "hello" and out["done_reason"] == "length" and "message" not in out
    assert out["prompt_eval_count"] == 7 and out["eval_count"] == 3 and "thinking" not in out


@pytest.mark.parametrize(("kind", "reason"), [("chat", "load"), ("generate", "unload")])
def test_empty_requests_answer_load_or_unload(kind: Any, reason: Any) -> None:
    out = empty_response(kind, "m", reason)
    assert out["done"] is True and out["done_reason"] == reason
    assert (out["message"]["content"] if kind == "chat" else out["response"]) == ""


def _stream(kind: Any, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state, reader = StreamState(kind, "smollm2:135m", Stopwatch.started(), ids()), ChunkReader()
    deltas = [d for c in chunks for d in reader.read(c)] + [reader.end()]
    lines = [line for d in deltas for line in state.absorb(d)]
    return lines + state.finish()


def test_chat_stream_lines_then_one_final_line_after_usage() -> None:
    lines = _stream(
        "chat",
        [chunk("", None), chunk("Hel"), chunk("lo"), chunk(finish="length"), {"choices": [], "usage": USAGE}],
    )
    assert [line["message"]["content"] for line in lines] == ["Hel", "lo", ""]
    assert [line["done"] for line in lines] == [False, False, True]
    final = lines[-1]
    assert final["done_reason"] == "length" and final["prompt_eval_count"] == 7 and final["eval_count"] == 3
    assert all(final[key] >= 1 for key in METRICS)
    assert all(line["model"] == "smollm2:135m" and line["message"]["role"] == "assistant" for line in lines)


def test_thinking_and_content_never_share_a_line() -> None:
    lines = _stream("chat", [chunk("answer", "thought"), chunk(finish="stop")])
    assert lines[0]["message"] == {"role": "assistant", "content": "", "thinking": "thought"}
    assert lines[1]["message"] == {"role": "assistant", "content": "answer"}
    assert all(line["message"].get("thinking") != "" for line in lines)


def test_generate_stream_uses_response_and_thinking_fields() -> None:
    lines = _stream("generate", [chunk("a", "t"), {"choices": [{"index": 0, "text": "b", "finish_reason": "stop"}]}])
    assert [(line.get("thinking"), line["response"]) for line in lines] == [
        ("t", ""),
        (None, "a"),
        (None, "b"),
        (None, ""),
    ]
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"


def test_tool_call_fragments_are_emitted_once_complete_before_the_final_line() -> None:
    fragments = [
        chunk(tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "add", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"a": '}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": "1}"}}]),
        chunk(tool_calls=[{"index": 1, "id": "b", "function": {"name": "now", "arguments": ""}}]),
        chunk(finish="tool_calls"),
        {"choices": [], "usage": USAGE},
    ]
    lines = _stream("chat", fragments)
    assert len(lines) == 2
    assert lines[0]["done"] is False
    assert lines[0]["message"]["tool_calls"] == [
        {"id": "call_00000001", "function": {"index": 0, "name": "add", "arguments": {"a": 1}}},
        {"id": "call_00000002", "function": {"index": 1, "name": "now", "arguments": {}}},
    ]
    assert lines[1]["done"] is True and lines[1]["done_reason"] == "stop"


def test_logprobs_translate_from_both_openai_shapes() -> None:
    chat = {
        "content": [
            {
                "token": "a",
                "logprob": -0.5,
                "bytes": [97],
                "top_logprobs": [
                    {"token": "a", "logprob": -0.5, "bytes": [97]},
                    {"token": "b", "logprob": -1.0, "bytes": [98]},
                ],
            }
        ]
    }
    completion = {"tokens": ["a"], "token_logprobs": [-0.5], "top_logprobs": [{"a": -0.5, "b": -1.0}]}
    expected = [
        {
            "token": "a",
            "logprob": -0.5,
            "top_logprobs": [{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1.0}],
        }
    ]
    assert from_logprobs(logprobs_from(chat)) == expected
    assert from_logprobs(logprobs_from(completion)) == expected
    assert from_logprobs(logprobs_from(None)) == []
