"""The official `anthropic` SDK against the real stack: messages.create, messages.stream, count_tokens, and
errors, on both ports and both engines."""

from __future__ import annotations

import json
import re

import httpx
import jsonschema
import pytest
from tests.conftest import DEFAULT_MODEL

import anthropic

WEATHER = {
    "name": "get_weather", "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                     "required": ["city", "unit"], "additionalProperties": False},
}
GREEDY = {"temperature": 0}  # the SDK no longer takes sampling arguments by name; the API still does


def test_create_with_a_system_prompt_and_several_turns(client: anthropic.Anthropic) -> None:
    r = client.messages.create(model=DEFAULT_MODEL, max_tokens=24, system="You answer in one short sentence.",
                               messages=[{"role": "user", "content": "My name is Ada."},
                                         {"role": "assistant", "content": "Hello Ada!"},
                                         {"role": "user", "content": "What is my name?"}], extra_body=GREEDY)
    assert r.type == "message" and r.role == "assistant" and r.id.startswith("msg_")
    assert r.content[0].type == "text" and r.content[0].text.strip()
    assert r.stop_reason in ("end_turn", "max_tokens")
    assert r.usage.input_tokens + (r.usage.cache_read_input_tokens or 0) > 10 and 0 < r.usage.output_tokens <= 24


def test_a_stop_sequence_ends_the_answer_and_is_named(client: anthropic.Anthropic, engine_name: str) -> None:
    r = client.messages.create(model=DEFAULT_MODEL, max_tokens=64, stop_sequences=["."],
                               messages=[{"role": "user", "content": "Tell me about Paris."}], extra_body=GREEDY)
    text = r.content[0].text
    assert "." not in text and text.strip() and r.usage.output_tokens < 64
    if engine_name == "llamacpp":
        assert (r.stop_reason, r.stop_sequence) == ("stop_sequence", ".")
    else:  # mistral.rs 0.9.5 reports an end of text and a stop string alike ("stop"): docs say so
        assert r.stop_reason == "end_turn"


def test_a_forced_tool_call_validates_and_its_result_goes_back(client: anthropic.Anthropic) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    r = client.messages.create(model=DEFAULT_MODEL, max_tokens=200, tools=[WEATHER], extra_body=GREEDY,
                               tool_choice={"type": "tool", "name": "get_weather"}, messages=[question])
    assert r.stop_reason == "tool_use"
    call = next(b for b in r.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, WEATHER["input_schema"])
    follow = client.messages.create(model=DEFAULT_MODEL, max_tokens=32, tools=[WEATHER], messages=[
        question, {"role": "assistant", "content": [call.model_dump(include={"type", "id", "name", "input"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C, sunny"}]},
    ])
    assert follow.stop_reason in ("end_turn", "max_tokens", "tool_use") and follow.content


def test_any_tool_picks_one_of_several_under_its_schema(client: anthropic.Anthropic) -> None:
    clock = {"name": "get_time", "description": "The time in a time zone",
             "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}
    r = client.messages.create(model=DEFAULT_MODEL, max_tokens=200, tools=[WEATHER, clock],
                               tool_choice={"type": "any"}, extra_body=GREEDY,
                               messages=[{"role": "user", "content": "What time is it in Tokyo?"}])
    call = next(b for b in r.content if b.type == "tool_use")
    schema = {"get_weather": WEATHER["input_schema"], "get_time": clock["input_schema"]}[call.name]
    jsonschema.validate(call.input, schema)


def test_stream_gives_text_pieces_and_the_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=DEFAULT_MODEL, max_tokens=32,
                                messages=[{"role": "user", "content": "Tell me about the moon."}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 3
    assert final.content[0].text == "".join(pieces)
    assert final.stop_reason in ("end_turn", "max_tokens") and final.usage.output_tokens > 0


def test_a_streamed_forced_tool_arrives_whole(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=DEFAULT_MODEL, max_tokens=200, tools=[WEATHER], extra_body=GREEDY,
                                tool_choice={"type": "tool", "name": "get_weather"},
                                messages=[{"role": "user", "content": "Weather in Oslo?"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    jsonschema.validate(final.content[0].input, WEATHER["input_schema"])


def test_count_tokens_grows_with_the_conversation(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}])
    long = client.messages.count_tokens(model=DEFAULT_MODEL, tools=[WEATHER], system="Be kind.",
                                        messages=[{"role": "user", "content": "Hi " * 50}])
    assert 0 < short.input_tokens < long.input_tokens


def test_errors_come_in_anthropics_shape(client: anthropic.Anthropic, port_url: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as image:
        client.messages.create(model=DEFAULT_MODEL, max_tokens=8, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}])
    assert image.value.body["error"]["type"] == "invalid_request_error"
    assert "text-only" in image.value.body["error"]["message"] and DEFAULT_MODEL in image.value.body["error"]["message"]
    for body in (b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',  # no max_tokens
                 b'{"model": "m", "max_tokens": 5, "messages": [}', b'{"model": "m", "max_tokens": "\xed\xa0\x80"}',
                 b"[" * 5000):
        r = httpx.post(f"{port_url}/v1/messages", content=body, headers={"content-type": "application/json"},
                       timeout=30)
        assert r.status_code == 400, (body[:40], r.text)
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError) as overflow:  # Anthropic's words, which Claude Code looks for
        client.messages.create(model=DEFAULT_MODEL, max_tokens=8,
                               messages=[{"role": "user", "content": "word " * 9000}])
    assert re.fullmatch(r"prompt is too long: \d+ tokens > 8192 maximum", overflow.value.body["error"]["message"])
    assert json.loads(httpx.get(f"{port_url}/health", timeout=10).text)  # still serving
