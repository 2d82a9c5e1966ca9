"""The official `openai` SDK's Responses API against the real stack: create plain and streamed, a forced
function call and its output sent back, chaining with previous_response_id, retrieve, delete, input tokens,
errors; on both ports and both engines."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
from tests.conftest import DEFAULT_MODEL

import openai

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}


def test_create_retrieve_and_delete(client: openai.OpenAI) -> None:
    r = client.responses.create(model=DEFAULT_MODEL, input="Name a colour.", instructions="Answer in one word.",
                                max_output_tokens=16, temperature=0)
    assert r.object == "response" and r.status in ("completed", "incomplete") and r.output_text.strip()
    assert r.usage is not None and r.usage.input_tokens > 5 and 0 < r.usage.output_tokens <= 16
    again = client.responses.retrieve(r.id)
    assert again.id == r.id and again.output_text == r.output_text
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_previous_response_id_carries_the_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model=DEFAULT_MODEL, input="My name is Ada.", max_output_tokens=12)
    second = client.responses.create(model=DEFAULT_MODEL, input="What is my name?", max_output_tokens=12,
                                     previous_response_id=first.id)
    assert second.previous_response_id == first.id
    # The earlier turn and its answer were part of the prompt: more input tokens than the question alone.
    alone = client.responses.create(model=DEFAULT_MODEL, input="What is my name?", max_output_tokens=12)
    assert second.usage is not None and alone.usage is not None
    assert second.usage.input_tokens > alone.usage.input_tokens + 5
    unstored = client.responses.create(model=DEFAULT_MODEL, input="Hi", max_output_tokens=4, store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_a_forced_function_call_and_its_output_sent_back(client: openai.OpenAI) -> None:
    r = client.responses.create(model=DEFAULT_MODEL, input="What is the weather in Paris?", max_output_tokens=200,
                                temperature=0,
                                tools=[WEATHER, {"type": "web_search"}],
                                tool_choice={"type": "function", "name": "get_weather"})
    call = next(item for item in r.output if item.type == "function_call")
    assert call.name == "get_weather" and call.call_id
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
    assert "web_search" in " ".join(r.model_extra.get("warnings", []))  # dropped, said so
    follow = client.responses.create(model=DEFAULT_MODEL, previous_response_id=r.id, tools=[WEATHER],
                                     max_output_tokens=24, input=[{"type": "function_call_output",
                                                                   "call_id": call.call_id, "output": "18 C, sunny"}])
    assert follow.status in ("completed", "incomplete") and follow.output


def test_stream_has_the_typed_events_and_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model=DEFAULT_MODEL, input="Say hello.", max_output_tokens=64) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    # The last event carries the whole response: completed, or incomplete where max_output_tokens cut it
    # (the SDK's get_final_response reads only the first, as OpenAI's own API ends such a stream the same way).
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    final = events[-1].response
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.output_item.done"):
        assert kind in kinds, kind
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text and deltas.strip()
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)


def test_a_streamed_forced_call_gives_function_call_argument_events(client: openai.OpenAI) -> None:
    with client.responses.stream(model=DEFAULT_MODEL, input="Weather in Oslo?", tools=[WEATHER],
                                 tool_choice="required", max_output_tokens=200, temperature=0) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert "response.function_call_arguments.done" in [e.type for e in events]
    jsonschema.validate(json.loads(final.output[0].arguments), WEATHER["parameters"])


def test_input_tokens_and_errors(client: openai.OpenAI, port_url: str) -> None:
    short = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="Hi")
    long = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="Hi " * 40, instructions="Be kind.")
    assert 0 < short.input_tokens < long.input_tokens
    with pytest.raises(openai.BadRequestError) as gone:
        client.responses.create(model=DEFAULT_MODEL, input="x", previous_response_id="resp_" + "0" * 32)
    assert gone.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="x")
    with pytest.raises(openai.BadRequestError) as overflow:
        client.responses.create(model=DEFAULT_MODEL, input="word " * 9000)
    assert overflow.value.code == "context_length_exceeded" and overflow.value.param == "input"
    with pytest.raises(openai.BadRequestError) as image:
        client.responses.create(model=DEFAULT_MODEL, input=[{"role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}])
    assert "text-only" in str(image.value)
    for body in (b'{"model": "m", "input": [}', b'{"model": "m", "input": "\xed\xa0\x80"}', b"[" * 5000,
                 b'{"input": "no model"}'):
        r = httpx.post(f"{port_url}/v1/responses", content=body, headers={"content-type": "application/json"},
                       timeout=30)
        assert r.status_code == 400, (body[:40], r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    for path in ("/v1/responses/resp_missing", "/v1/responses/..%2F..%2Fetc%2Fpasswd"):
        assert httpx.get(f"{port_url}{path}", timeout=10).status_code == 404
