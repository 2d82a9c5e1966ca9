"""Responses API <-> Engine protocol, table-driven, no HTTP; and the response store on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from frontier.engine.forced_tool import closed
from frontier.engine.protocol import Delta, ToolCall, Usage
from frontier.errors import InvalidRequestError
from frontier.responses import render, translate, wire
from frontier.responses.store import ResponseStore

MODEL = "m.gguf"
WEATHER = {"type": "function", "name": "weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _req(**fields: Any) -> wire.ResponsesRequest:
    return wire.ResponsesRequest.model_validate({"model": MODEL, **fields})


@pytest.mark.parametrize(("items", "expected"), [
    ("Hi", [{"role": "user", "content": "Hi"}]),
    ([{"role": "developer", "content": "Rules."}, {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                                                             {"type": "input_text", "text": "b"}]}],
     [{"role": "system", "content": "Rules."}, {"role": "user", "content": "a\nb"}]),
    ([{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
      {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
      {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": '{"city":"Rome"}'},
      {"type": "function_call_output", "call_id": "call_1", "output": "Rain"},
      {"type": "reasoning", "summary": []}],
     [{"role": "assistant", "content": "Let me check.", "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
         {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "Rain"}]),
])
def test_input_items_become_engine_messages(items: Any, expected: list[dict[str, Any]]) -> None:
    assert translate.input_messages(items, MODEL) == expected


@pytest.mark.parametrize(("fields", "param"), [
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}]},
     "input[0].content[0]"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "function_call", "call_id": "c"}]}, "input[0].name"),
    ({"input": [{"type": "computer_call_output", "output": {}}]}, "input[0].type"),
    ({"input": ""}, "input"),
    ({"input": "x", "tool_choice": "required"}, "tool_choice"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "other"}}, "tool_choice"),
    ({"input": "x", "tools": [{**WEATHER, "parameters": {"type": "nope"}}]}, "tools[0].parameters"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
])
def test_what_cannot_be_served_is_a_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        translate.to_plan(_req(**fields), [])
    assert err.value.param == param


def test_instructions_previous_turns_and_sampling() -> None:
    previous = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hi Ada."}]
    plan = translate.to_plan(_req(input="Name?", instructions="Be brief.", max_output_tokens=9, temperature=0.1,
                                  top_p=0.5), previous)
    assert plan.request.messages == [{"role": "system", "content": "Be brief."}, *previous,
                                     {"role": "user", "content": "Name?"}]
    assert plan.conversation == [*previous, {"role": "user", "content": "Name?"}]  # without the instructions
    p = plan.request.params
    assert (p.max_tokens, p.temperature, p.top_p) == (9, 0.1, 0.5)


def test_tools_the_server_cannot_run_are_dropped_with_a_warning() -> None:
    plan = translate.to_plan(_req(input="x", tools=[WEATHER, {"type": "web_search"}, {"type": "mcp"}]), [])
    assert plan.request.tools == [{"type": "function", "function": {
        "name": "weather", "description": "Weather in a city", "parameters": WEATHER["parameters"]}}]
    assert len(plan.warnings) == 2 and "'web_search'" in plan.warnings[0]
    none = translate.to_plan(_req(input="x", tools=[WEATHER], tool_choice="none"), [])
    assert none.request.tools is None


def test_a_forced_function_and_a_json_schema_format_are_grammars() -> None:
    plan = translate.to_plan(_req(input="Oslo?", tools=[WEATHER],
                                  tool_choice={"type": "function", "name": "weather"}), [])
    assert [f.name for f in plan.forced] == ["weather"] and plan.request.tools is None
    assert plan.request.grammar is not None and json.loads(plan.request.grammar.value) == closed(WEATHER["parameters"])
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    fmt = translate.to_plan(_req(input="x", text={"format": {"type": "json_schema", "name": "n", "schema": schema}}),
                            [])
    assert fmt.request.grammar is not None and json.loads(fmt.request.grammar.value) == schema


def test_the_response_object_and_the_turns_it_stores() -> None:
    ids = render.Ids()
    c = render.Collected(text="Hello", finish="stop",
                         usage=Usage(prompt_tokens=7, completion_tokens=2, cached_tokens=3))
    items = render.output_items(ids, c, ())
    out = render.response(ids, _req(input="x", instructions="I"), "completed", items, c.usage, ["w"])
    assert out["object"] == "response" and out["status"] == "completed" and out["output_text"] == "Hello"
    assert out["output"][0]["content"][0] == {"type": "output_text", "text": "Hello", "annotations": [],
                                              "logprobs": []}
    assert out["usage"] == {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 2,
                            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9}
    assert out["warnings"] == ["w"] and out["instructions"] == "I" and out["incomplete_details"] is None
    calls = render.Collected(tool_calls=[ToolCall("call_9", "weather", '{"city":"Oslo"}')], finish="tool_calls")
    call_items = render.output_items(ids, calls, ())
    assert call_items == [{"type": "function_call", "id": "fc_9", "call_id": "call_9", "name": "weather",
                           "arguments": '{"city":"Oslo"}', "status": "completed"}]
    assert render.as_turns(call_items) == [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]}]
    cut = render.Collected(text="Hel", finish="length")
    assert render.output_items(ids, cut, ())[0]["status"] == "incomplete"


def test_the_stream_has_typed_events_in_order_with_sequence_numbers() -> None:
    out = render.StreamTranslator(render.Ids(), _req(input="x"), (), [])
    events = out.start() + out.push(Delta(text="Hel")) + out.push(Delta(text="lo"))
    events += out.push(Delta(finish_reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=2)))
    closing, final, _ = out.finish()
    events += closing
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert events[6]["text"] == "Hello" and final["output_text"] == "Hello" and final["usage"]["output_tokens"] == 2


def test_a_streamed_forced_call_arrives_as_function_call_events() -> None:
    tool = translate.to_plan(_req(input="x", tools=[WEATHER], tool_choice="required"), []).forced
    out = render.StreamTranslator(render.Ids(), _req(input="x"), tool, [])
    events = out.start() + out.push(Delta(text='{"city": "Oslo"}')) + out.push(Delta(finish_reason="stop"))
    closing, final, _ = out.finish()
    kinds = [e["type"] for e in events + closing]
    assert kinds[2:] == ["response.output_item.added", "response.function_call_arguments.delta",
                         "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert json.loads(final["output"][0]["arguments"]) == {"city": "Oslo"} and final["output"][0]["name"] == "weather"


def test_the_store_survives_a_restart_keeps_the_newest_and_names_no_outside_file(tmp_path: Path) -> None:
    folder = tmp_path / "responses"
    store = ResponseStore(folder, keep=3)
    ids = [render.new_id("resp") for _ in range(5)]
    for rid in ids:
        store.put(rid, {"response": {"id": rid}, "conversation": []})
    again = ResponseStore(folder, keep=3)  # a new process reading the same folder
    assert [again.get(rid) is not None for rid in ids] == [False, False, True, True, True]
    assert again.delete(ids[-1]) and again.get(ids[-1]) is None and not again.delete(ids[-1])
    (tmp_path / "secret.json").write_text('{"response": {}, "conversation": []}')
    for hostile in ("../secret", "resp_../../secret", "/etc/passwd", "resp_" + "0" * 31 + "/"):
        assert again.get(hostile) is None and not again.delete(hostile)
    (folder / f"{ids[2]}.json").write_text("{ damaged")
    assert again.get(ids[2]) is None  # a damaged file reads as missing
