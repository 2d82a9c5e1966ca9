"""Anthropic Messages <-> Engine protocol, table-driven, no HTTP: requests in, messages and events out."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from frontier.anthropic import render, translate, wire
from frontier.engine.forced_tool import ForcedTool, closed
from frontier.engine.protocol import Delta, ToolCall, Usage
from frontier.errors import InvalidRequestError

MODEL = "m.gguf"
WEATHER = {"name": "weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"name": "time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}


def _req(**fields: Any) -> wire.MessagesRequest:
    return wire.MessagesRequest.model_validate({"model": MODEL, "max_tokens": 32, **fields})


@pytest.mark.parametrize(("fields", "expected"), [
    ({"messages": [{"role": "user", "content": "Hi"}]}, [{"role": "user", "content": "Hi"}]),
    ({"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]},
     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]),
    ({"system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
      "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}]},
     [{"role": "system", "content": "A\n\nB"}, {"role": "user", "content": "x\ny"}]),
    ({"system": "Base.", "messages": [  # system turns mid-conversation (Claude Code) join the system prompt
        {"role": "user", "content": "Hi"}, {"role": "system", "content": "Agents: a, b."},
        {"role": "assistant", "content": "Hello"}, {"role": "system", "content": [{"type": "text", "text": "More."}]}]},
     [{"role": "system", "content": "Base.\n\nAgents: a, b.\n\nMore."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello"}]),
    ({"messages": [  # a tool round trip: tool_use -> tool_calls, tool_result -> a tool message
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"},
                                          {"type": "text", "text": "Let me look."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Rain"},
                                     {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                                      "content": [{"type": "text", "text": "timeout"}]}]}]},
     [{"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": "Let me look.", "tool_calls": [
          {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "Rain"},
      {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: timeout"}]),
])
def test_content_blocks_become_engine_messages(fields: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert translate.to_messages(_req(**fields)) == expected


@pytest.mark.parametrize(("fields", "param"), [
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AA"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER],
      "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "any"}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"name": "bad", "input_schema": {"type": "no-such-type"}}]}, "tools[0].input_schema"),
])
def test_what_cannot_be_served_is_a_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        translate.to_generation_request(_req(**fields))
    assert err.value.param == param
    if "image" in json.dumps(fields):
        assert "text-only" in str(err.value) and MODEL in str(err.value)


def test_sampling_and_stops_carry_over() -> None:
    req, plan = translate.to_generation_request(_req(
        messages=[{"role": "user", "content": "x"}], temperature=0.2, top_p=0.9, top_k=5, stop_sequences=["END"]))
    assert (req.params.max_tokens, req.params.temperature, req.params.top_p, req.params.top_k) == (32, 0.2, 0.9, 5)
    assert req.params.stop == ["END"] and plan.forced == () and req.tools is None


def test_auto_tools_go_to_the_engine_and_server_tools_are_left_out() -> None:
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    req, plan = translate.to_generation_request(_req(messages=[{"role": "user", "content": "x"}],
                                                     tools=[WEATHER, server_tool]))
    assert req.tool_choice == "auto" and plan.forced == ()
    assert req.tools == [{"type": "function", "function": {"name": "weather", "description": "Weather in a city",
                                                           "parameters": WEATHER["input_schema"]}}]
    none, _ = translate.to_generation_request(_req(messages=[{"role": "user", "content": "x"}], tools=[WEATHER],
                                                   tool_choice={"type": "none"}))
    assert none.tools is None


def test_a_forced_tool_is_generated_under_its_schema() -> None:
    req, plan = translate.to_generation_request(_req(
        system="Sys.", messages=[{"role": "user", "content": "Oslo?"}], tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "weather"}))
    assert [t.name for t in plan.forced] == ["weather"] and req.tools is None
    assert req.grammar is not None and json.loads(req.grammar.value) == closed(WEATHER["input_schema"])
    assert req.messages is not None and req.messages[0]["content"].startswith("Sys.\n\nCall the tool weather")
    any_req, any_plan = translate.to_generation_request(_req(
        messages=[{"role": "user", "content": "x"}], tools=[WEATHER, TIME], tool_choice={"type": "any"}))
    assert len(any_plan.forced) == 2 and any_req.grammar is not None
    names = [c["properties"]["name"]["const"] for c in json.loads(any_req.grammar.value)["anyOf"]]
    assert names == ["weather", "time"]


def _plan(*tools: dict[str, Any]) -> translate.ToolPlan:
    return translate.ToolPlan(tuple(ForcedTool(t["name"], t.get("description", ""), t["input_schema"])
                                    for t in tools))


@pytest.mark.parametrize(("collected", "plan", "blocks", "reason", "sequence"), [
    (render.Collected(text="Hello", finish="stop"), translate.ToolPlan(), [{"type": "text", "text": "Hello"}],
     "end_turn", None),
    (render.Collected(text="Hel", finish="stop", stop_sequence="lo"), translate.ToolPlan(),
     [{"type": "text", "text": "Hel"}], "stop_sequence", "lo"),
    (render.Collected(text="Long", finish="length"), translate.ToolPlan(), [{"type": "text", "text": "Long"}],
     "max_tokens", None),
    (render.Collected(reasoning="think", text="ok", finish="stop"), translate.ToolPlan(),
     [{"type": "thinking", "thinking": "think", "signature": ""}, {"type": "text", "text": "ok"}], "end_turn", None),
    (render.Collected(tool_calls=[ToolCall("call_1", "weather", '{"city": "Oslo"}')], finish="tool_calls"),
     translate.ToolPlan(), [{"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}}],
     "tool_use", None),
    (render.Collected(text='{"city": "Rome"}', finish="stop"), _plan(WEATHER),
     [{"type": "tool_use", "id": "toolu_x", "name": "weather", "input": {"city": "Rome"}}], "tool_use", None),
    (render.Collected(text='{"name": "time", "arguments": {"zone": "UTC"}}', finish="stop"), _plan(WEATHER, TIME),
     [{"type": "tool_use", "id": "toolu_x", "name": "time", "input": {"zone": "UTC"}}], "tool_use", None),
    (render.Collected(text='{"city": "Ro', finish="length"), _plan(WEATHER),  # cut short: said as it is
     [{"type": "text", "text": '{"city": "Ro'}], "max_tokens", None),
])
def test_the_whole_message(collected: render.Collected, plan: translate.ToolPlan, blocks: list[dict[str, Any]],
                           reason: str, sequence: str | None) -> None:
    collected.usage = Usage(prompt_tokens=10, completion_tokens=4, cached_tokens=6)
    out = render.message("msg_1", MODEL, collected, plan, "toolu_x")
    assert out["content"] == blocks and out["stop_reason"] == reason and out["stop_sequence"] == sequence
    assert out["usage"] == {"input_tokens": 4, "output_tokens": 4, "cache_read_input_tokens": 6,
                            "cache_creation_input_tokens": 0}
    assert (out["type"], out["role"], out["id"], out["model"]) == ("message", "assistant", "msg_1", MODEL)


def _events(deltas: list[Delta], plan: translate.ToolPlan) -> list[tuple[str, dict[str, Any]]]:
    out = render.StreamTranslator("msg_1", MODEL, plan, "toolu_x")
    events = out.start()
    for d in deltas:
        events += out.push(d)
    return events + out.finish()


def _shape(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [kind + (":" + str(data["delta"].get("type")) if kind == "content_block_delta" else "")
            for kind, data in events]


def test_a_text_stream_has_anthropics_event_sequence() -> None:
    events = _events([Delta(text="Hel"), Delta(text="lo"), Delta(finish_reason="stop"),
                      Delta(usage=Usage(prompt_tokens=5, completion_tokens=2))], translate.ToolPlan())
    assert _shape(events) == ["message_start", "ping", "content_block_start", "content_block_delta:text_delta",
                              "content_block_delta:text_delta", "content_block_stop", "message_delta", "message_stop"]
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2][1]["usage"]["output_tokens"] == 2 and events[-2][1]["usage"]["input_tokens"] == 5


def test_thinking_then_text_then_a_tool_call_are_three_blocks() -> None:
    events = _events([Delta(reasoning="Let me see."), Delta(text="Checking."),
                      Delta(tool_calls=[ToolCall("c1", "weather", '{"city":"Oslo"}')], finish_reason="tool_calls"),
                      Delta(usage=Usage())], translate.ToolPlan())
    assert _shape(events) == [
        "message_start", "ping",
        "content_block_start", "content_block_delta:thinking_delta", "content_block_delta:signature_delta",
        "content_block_stop",
        "content_block_start", "content_block_delta:text_delta", "content_block_stop",
        "content_block_start", "content_block_delta:input_json_delta", "content_block_stop",
        "message_delta", "message_stop"]
    starts = [d["content_block"]["type"] for k, d in events if k == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    assert [d["index"] for k, d in events if k == "content_block_start"] == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_a_forced_tool_streams_its_input_from_the_first_token() -> None:
    deltas = [Delta(text='{"city"'), Delta(text=': "Oslo"}'), Delta(finish_reason="stop"), Delta(usage=Usage())]
    events = _events(deltas, _plan(WEATHER))
    assert _shape(events) == ["message_start", "ping", "content_block_start", "content_block_delta:input_json_delta",
                              "content_block_delta:input_json_delta", "content_block_stop", "message_delta",
                              "message_stop"]
    assert events[2][1]["content_block"] == {"type": "tool_use", "id": "toolu_x", "name": "weather", "input": {}}
    partial = "".join(d["delta"]["partial_json"] for k, d in events if k == "content_block_delta")
    assert json.loads(partial) == {"city": "Oslo"} and events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_an_empty_answer_still_has_one_text_block() -> None:
    events = _events([Delta(finish_reason="stop"), Delta(usage=Usage())], translate.ToolPlan())
    assert _shape(events) == ["message_start", "ping", "content_block_start", "content_block_stop", "message_delta",
                              "message_stop"]


def test_count_text_covers_turns_and_tools() -> None:
    req = wire.CountTokensRequest.model_validate({"model": MODEL, "system": "S", "tools": [WEATHER],
                                                  "messages": [{"role": "user", "content": "Hello"}]})
    text = translate.count_text(req)
    assert "system: S" in text and "user: Hello" in text and "Weather in a city" in text


def test_a_forced_tool_grammar_closes_objects_the_schema_leaves_open() -> None:
    # Left open, the grammar let the default model invent keys until max_tokens; closed, whatever it generates
    # still validates against the schema as given.
    schema = {"type": "object", "properties": {"zone": {"type": "string"},
                                               "at": {"type": "object", "properties": {"hour": {"type": "integer"}}},
                                               "tags": {"type": "array", "items": {"type": "object",
                                                                                   "properties": {"k": {}}}}},
              "required": ["zone"]}
    tight = closed(schema)
    assert tight["additionalProperties"] is False
    assert tight["properties"]["at"]["additionalProperties"] is False
    assert tight["properties"]["tags"]["items"]["additionalProperties"] is False
    assert "additionalProperties" not in schema  # the caller's schema is left as it was
    assert closed({"type": "object", "properties": {}, "additionalProperties": True})["additionalProperties"] is True
    assert closed({"type": "string", "enum": [{"properties": 1}]}) == {"type": "string", "enum": [{"properties": 1}]}
    jsonschema.validate({"zone": "UTC", "at": {"hour": 3}}, schema)
    jsonschema.validate({"zone": "UTC", "at": {"hour": 3}}, tight)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"zone": "UTC", "type": "object"}, tight)
