"""Property tests of the Ollama layer's pure translations: on any JSON a client can send they answer, or raise
the project's InvalidRequestError (a 400), never anything else; and what they map, they map faithfully."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from tests.fuzz.strategies import json_values, objects, shaped

from frontier.engine.remote.translate import CHAT_PATH, COMPLETIONS_PATH, ChunkReader, request_body
from frontier.errors import FrontierError, InvalidRequestError
from frontier.ollama import options, translate
from frontier.ollama.clock import Stopwatch
from frontier.ollama.names import derive_name, normalise
from frontier.ollama.responses import Gathered, StreamState
from frontier.ollama.wire import ChatRequest, GenerateRequest, Message, parse_body

# Bounded and reproducible; no "explain" phase (it can take minutes on these nested strategies).
FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate, Phase.shrink])
numbers = st.integers(-3, 10**6) | st.floats(-5, 5, allow_nan=False)
option_values = objects({key: numbers | st.booleans() | st.text(max_size=5) | st.lists(st.text(max_size=3))
                         for key in options.KINDS})
messages = st.lists(objects({
    "role": st.sampled_from(["system", "user", "assistant", "tool", "USER", "wizard"]),
    "content": st.text(max_size=20) | st.none(),
    "images": st.lists(st.text(max_size=12) | st.just("iVBORw0KGgo="), max_size=2),
    "tool_calls": st.lists(objects({"function": objects({
        "name": st.text(max_size=5),
        "arguments": st.dictionaries(st.text(max_size=3), st.integers()) | st.text(max_size=6) | st.none(),
    })}), max_size=2),
    "tool_name": st.text(max_size=5), "tool_call_id": st.text(max_size=5),
}), max_size=4)
common = {"model": st.text(max_size=10), "name": st.text(max_size=10), "stream": st.booleans(),
          "format": st.sampled_from(["", "json", "yaml"]) | st.dictionaries(st.text(max_size=4), json_values),
          "options": option_values, "keep_alive": numbers | st.text(max_size=4),
          "think": st.booleans() | st.sampled_from(["low", "high", "max"]), "logprobs": st.booleans(),
          "top_logprobs": st.integers(-2, 25)}
chat_bodies = objects({**common, "messages": messages, "tools": st.lists(json_values, max_size=2)})
generate_bodies = objects({**common, "prompt": st.text(max_size=20), "suffix": st.text(max_size=5),
                           "system": st.text(max_size=5), "template": st.text(max_size=5),
                           "context": st.lists(st.integers(), max_size=3), "raw": st.booleans(),
                           "images": st.lists(st.text(max_size=8), max_size=2)})


def _serialisable(value: Any) -> None:
    json.dumps(value, allow_nan=False)


@FAST
@given(body=st.one_of(chat_bodies, json_values))
def test_chat_translation_answers_or_raises_invalid_request(body: Any) -> None:
    try:
        req = parse_body(ChatRequest, body)
        sampling = options.parse_options(req.options)
        generation = translate.chat_request(req, "upstream-id", sampling, new_id=lambda: "call_x")
    except InvalidRequestError:
        return
    path, out = request_body(generation, extensions=True)
    _serialisable(out)
    assert path == CHAT_PATH and out["model"] == "upstream-id"
    assert len(out["messages"]) == len(req.messages)


@FAST
@given(body=st.one_of(generate_bodies, json_values))
def test_generate_translation_answers_or_raises_invalid_request(body: Any) -> None:
    try:
        req = parse_body(GenerateRequest, body)
        generation = translate.generate_request(req, "upstream-id", options.parse_options(req.options))
    except InvalidRequestError:
        return
    path, body = request_body(generation, extensions=False)
    _serialisable(body)
    assert path in (CHAT_PATH, COMPLETIONS_PATH)
    assert (path == COMPLETIONS_PATH) == bool(req.raw or req.suffix)
    assert not {"top_k", "min_p", "repetition_penalty", "keep_alive"} & set(body)  # extensions only where advertised


@FAST
@given(raw=option_values)
def test_options_keep_the_values_they_map(raw: dict[str, Any]) -> None:
    try:
        sampling = options.parse_options(raw)
    except InvalidRequestError as exc:
        assert exc.param and exc.param.startswith("options.")
        return
    params = options.to_params(sampling)
    out = {"temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k, "min_p": params.min_p,
           "repetition_penalty": params.repetition_penalty, "presence_penalty": params.presence_penalty,
           "max_tokens": params.max_tokens, "seed": params.seed, "stop": params.stop}
    _serialisable(out)
    for ollama_key, openai_key in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"),
                                   ("min_p", "min_p"), ("repeat_penalty", "repetition_penalty"),
                                   ("presence_penalty", "presence_penalty")):
        if raw.get(ollama_key) is not None:
            assert out[openai_key] == raw[ollama_key]
    predict = raw.get("num_predict")
    assert out.get("max_tokens") == (int(predict) if predict is not None and predict > 0 else None)
    seed = raw.get("seed")
    assert out.get("seed") == (int(seed) if seed is not None and seed >= 0 else None)
    stop = raw.get("stop")
    if stop:
        assert out["stop"] == ([stop] if isinstance(stop, str) else stop)


@FAST
@given(name=st.text(max_size=30)
       | st.from_regex(r"(registry\.ollama\.ai/)?(library/)?[A-Za-z0-9 ._-]{0,8}(:[a-z0-9 ]{0,4})?"))
def test_name_normalisation_is_idempotent(name: str) -> None:
    once = normalise(name)
    assert normalise(once) == once
    assert once == once.lower()


@FAST
@given(upstream_id=st.text(max_size=30))
def test_derived_names_are_normalised_and_safe(upstream_id: str) -> None:
    name = derive_name(upstream_id)
    assert normalise(name) == name
    assert all(c.isascii() and (c.isalnum() or c in "._-/:") for c in name)


@FAST
@given(history=st.lists(st.builds(
    Message, role=st.sampled_from(["user", "assistant", "tool", "system"]), content=st.text(max_size=5),
    tool_name=st.none() | st.sampled_from(["a", "b"]), tool_call_id=st.none() | st.sampled_from(["c1", "c2"]),
    tool_calls=st.none() | st.lists(st.builds(lambda n: {"function": {"name": n, "arguments": {}}},
                                              st.sampled_from(["a", "b"])), max_size=2)), max_size=6))
def test_every_tool_result_gets_a_call_id(history: list[Message]) -> None:
    out = translate.to_openai_messages(history, new_id=lambda: "call_new")
    assert [m["role"] for m in out] == [m.role for m in history]
    assert all(m["tool_call_id"] for m in out if m["role"] == "tool")


chunk_deltas = shaped({"content": st.text(max_size=5) | st.none(), "reasoning_content": st.text(max_size=5),
                        "tool_calls": st.lists(shaped({"index": st.integers(0, 3), "function": shaped(
                            {"name": st.text(max_size=4), "arguments": st.text(max_size=6)})}), max_size=2)})
chunks = shaped({"choices": st.lists(shaped({"delta": chunk_deltas, "text": st.text(max_size=5),
                                               "finish_reason": st.sampled_from([None, "stop", "length",
                                                                                 "tool_calls"])}), max_size=1),
                  "usage": shaped({"prompt_tokens": st.integers(0, 99), "completion_tokens": st.integers(0, 99)})})


def _lines(stream: list[Any], kind: Any) -> list[dict[str, Any]]:
    """Upstream chunks through the remote engine's reader, then into Ollama lines."""
    state, reader = StreamState(kind, "m:latest", Stopwatch.started(), new_id=lambda: "call_abcdefgh"), ChunkReader()
    deltas = [d for chunk in stream for d in reader.read(chunk)] + [reader.end()]
    return [line for d in deltas for line in state.absorb(d)] + state.finish()


@FAST
@given(stream=st.lists(chunks, max_size=6), kind=st.sampled_from(["chat", "generate"]))
def test_stream_lines_are_json_objects_ending_with_one_done_line(stream: list[dict[str, Any]], kind: Any) -> None:
    lines = _lines(stream, kind)
    encoded = [json.dumps(line, separators=(",", ":")) for line in lines]
    assert all("\n" not in text and isinstance(json.loads(text), dict) for text in encoded)
    assert [line["done"] for line in lines].count(True) == 1 and lines[-1]["done"] is True
    assert lines[-1]["done_reason"] in ("stop", "length")
    assert all(lines[-1][key] >= 1 for key in ("total_duration", "prompt_eval_duration", "eval_duration"))


@FAST
@given(stream=st.lists(json_values, max_size=3), kind=st.sampled_from(["chat", "generate"]))
def test_an_unreadable_upstream_chunk_is_an_upstream_error_not_a_crash(stream: list[Any], kind: Any) -> None:
    try:
        lines = _lines(stream, kind)
    except FrontierError:
        return
    assert lines[-1]["done"] is True


@FAST
@given(stream=st.lists(chunks, max_size=6), kind=st.sampled_from(["chat", "generate"]))
def test_a_whole_answer_becomes_one_done_object(stream: list[dict[str, Any]], kind: Any) -> None:
    reader, gathered = ChunkReader(), Gathered()
    for d in [d for chunk in stream for d in reader.read(chunk)] + [reader.end()]:
        gathered.add(d)
    out = gathered.response(kind, "m:latest", Stopwatch.started(), new_id=lambda: "call_abcdefgh")
    _serialisable(out)
    assert out["done"] is True and out["done_reason"] in ("stop", "length")
