"""Property tests of the OpenAI side's pure translations (wire -> engine request -> mistral.rs kwargs, engine
deltas -> response bodies): any JSON a client sends is answered or refused as InvalidRequestError (a 400, or a
pydantic ValidationError that the app renders as one), never anything else; what is mapped keeps its value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fuzz.strategies import json_values, objects

from frontier.engine.mistralrs.convert import completion_kwargs, engine_stops, request_kwargs
from frontier.engine.protocol import Delta, ToolCall, Usage
from frontier.errors import InvalidRequestError
from frontier.openai import translate, wire

FAST = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate])
numbers = st.integers(-3, 300) | st.floats(-3, 3, allow_nan=False)
sampling = {"model": st.text(max_size=8), "temperature": numbers, "top_p": numbers, "top_k": st.integers(-2, 50),
            "min_p": numbers, "stop": st.text(max_size=4) | st.lists(st.text(max_size=4), max_size=5),
            "seed": st.integers(), "presence_penalty": numbers, "frequency_penalty": numbers,
            "repetition_penalty": numbers, "n": st.integers(0, 9), "ignore_eos": st.booleans(),
            "keep_alive": numbers, "stream": st.booleans(), "stream_options": objects({"include_usage": st.booleans()})}
parts = st.lists(objects({"type": st.sampled_from(["text", "image_url", "input_audio"]), "text": st.text(max_size=5)}),
                 max_size=3)
messages = st.lists(objects({
    "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "wizard"]),
    "content": st.text(max_size=10) | parts | st.none(), "name": st.text(max_size=4),
    "tool_call_id": st.text(max_size=4),
    "tool_calls": st.lists(objects({"id": st.text(max_size=4), "type": st.just("function"),
                                    "function": objects({"name": st.text(max_size=4),
                                                         "arguments": st.text(max_size=8)})}), max_size=2),
}), max_size=4)
chat_bodies = objects({
    **sampling, "messages": messages, "max_tokens": st.integers(-1, 64), "max_completion_tokens": st.integers(-1, 64),
    "logprobs": st.booleans(), "top_logprobs": st.integers(-1, 25),
    "tools": st.lists(objects({"type": st.just("function"), "function": objects(
        {"name": st.text(max_size=4), "parameters": st.dictionaries(st.text(max_size=3), json_values)})}), max_size=2),
    "tool_choice": st.sampled_from(["none", "auto", "required", "x"]) | objects(
        {"type": st.just("function"), "function": objects({"name": st.text(max_size=3)})}),
    "response_format": objects({"type": st.sampled_from(["text", "json_object", "json_schema", "yaml"]),
                                "json_schema": objects({"name": st.text(max_size=3),
                                                        "schema": st.dictionaries(st.sampled_from(
                                                            ["type", "properties", "required", "minimum"]),
                                                            json_values, max_size=3)})}),
    "reasoning_effort": st.sampled_from(["none", "low", "high", "max"]),
})
completion_bodies = objects({**sampling, "prompt": st.text(max_size=10) | st.lists(st.text(max_size=5), max_size=2),
                             "max_tokens": st.integers(-1, 64), "suffix": st.text(max_size=3),
                             "echo": st.booleans(), "logprobs": st.integers(-1, 6), "best_of": st.integers(0, 2)})


@FAST
@given(body=st.one_of(chat_bodies, json_values))
def test_chat_requests_translate_or_are_refused_as_invalid(body: Any) -> None:
    try:
        parsed = wire.ChatCompletionRequest.model_validate(body)
        req = translate.to_generation_request(parsed)
        kwargs = request_kwargs(req, "model-id", max_tokens=8)
    except (ValidationError, InvalidRequestError):
        return
    assert len(kwargs["messages"]) == len(parsed.messages)
    assert all(isinstance(m["content"], str) and m["role"] != "developer" for m in kwargs["messages"])
    assert req.params.max_tokens == (parsed.max_completion_tokens or parsed.max_tokens)
    assert req.params.temperature == parsed.temperature and req.params.n == parsed.n
    for stop in parsed.stop_list:
        assert stop in (kwargs["stop_seqs"] or [])
    if req.grammar is not None:
        json.loads(req.grammar.value)


@FAST
@given(body=st.one_of(completion_bodies, json_values))
def test_completion_requests_translate_or_are_refused_as_invalid(body: Any) -> None:
    try:
        parsed = wire.CompletionRequest.model_validate(body)
        req = translate.completion_to_generation_request(parsed)
        kwargs = completion_kwargs(req, "model-id", max_tokens=8)
    except (ValidationError, InvalidRequestError):
        return
    assert kwargs["prompt"] and kwargs["prompt"] == (parsed.prompt if isinstance(parsed.prompt, str)
                                                     else parsed.prompt[0])


@FAST
@given(stops=st.lists(st.text(max_size=4), max_size=6))
def test_engine_stops_keep_every_stop_and_add_no_empty_one(stops: list[str]) -> None:
    out = engine_stops(stops) or []
    assert all(stop in out for stop in stops if stop)
    assert "" not in out and len(out) == len(set(out))


deltas = st.builds(
    Delta, index=st.integers(0, 2), text=st.text(max_size=5), reasoning=st.text(max_size=3),
    finish_reason=st.sampled_from([None, "stop", "length", "tool_calls"]),
    tool_calls=st.lists(st.builds(ToolCall, id=st.text(max_size=4), name=st.text(max_size=4),
                                  arguments=st.text(max_size=6), index=st.integers(0, 2)), max_size=2))


@FAST
@given(stream=st.lists(deltas, max_size=8), logprobs=st.booleans())
def test_collected_answers_are_json_and_keep_the_text(stream: list[Delta], logprobs: bool) -> None:
    choices: dict[int, translate.ChoiceAccumulator] = {}
    for delta in stream:
        choices.setdefault(delta.index, translate.ChoiceAccumulator()).add(delta)
    usage = Usage(prompt_tokens=3, completion_tokens=len(stream), prompt_seconds=0.1, completion_seconds=0.2)
    chat = translate.chat_completion("id", 1, "m", choices, usage, logprobs)
    text = translate.text_completion("id", 1, "m", choices, usage, logprobs, "echo:")
    json.loads(json.dumps(chat, allow_nan=False))
    json.loads(json.dumps(text, allow_nan=False))
    for choice in text["choices"]:
        assert choice["text"] == "echo:" + "".join(d.text for d in stream if d.index == choice["index"])
    for delta in stream:
        json.dumps(translate.chat_chunk("id", 1, "m", delta, logprobs, True), allow_nan=False)


@pytest.mark.parametrize("penalty", [5e-324, 0.0, -1.0, 1000.0])
def test_repetition_penalties_the_engine_cannot_use_are_refused(penalty: float) -> None:
    # Found by the fuzz run: 5e-324 is zero in the engine's f32, NaN logits, and the generation failed (500).
    with pytest.raises(ValidationError):
        wire.ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "repetition_penalty": penalty})
