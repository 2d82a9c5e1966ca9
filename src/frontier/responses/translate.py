"""Pure translation of a Responses API request into the Engine protocol's GenerationRequest. No I/O.

Input items map onto the OpenAI-style message dicts the engines template: messages by role, `function_call`
items as the assistant's `tool_calls`, `function_call_output` items as `tool` messages. A stored previous
response contributes its whole conversation (instructions are not carried over, as OpenAI does). A forced call
(`tool_choice` `required` or a named function) is generated under the function's schema (forced_tool.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from frontier.engine import forced_tool
from frontier.engine.protocol import GenerationRequest, Grammar, SamplingParams
from frontier.errors import InvalidRequestError
from frontier.responses import wire

_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "refusal")
_MEDIA_PARTS = ("input_image", "input_file", "input_audio")


@dataclass(slots=True)
class Plan:
    """What the request became: the engine request, the conversation to store, forced tools, warnings."""

    request: GenerationRequest
    conversation: list[dict[str, Any]]  # every turn so far, without the instructions
    forced: tuple[forced_tool.ForcedTool, ...] = ()
    warnings: list[str] = field(default_factory=list)


def _text(content: Any, model: str, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a string or a list of parts", param=f"{where}.content")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _MEDIA_PARTS:
            raise InvalidRequestError(f"{where}.content[{j}]: model {model!r} is text-only: it cannot read "
                                      f"{kind} parts", param=f"{where}.content[{j}]")
        if kind in _TEXT_PARTS and isinstance(part.get("text", part.get("refusal")), str):
            texts.append(part.get("text", part.get("refusal")))
        elif kind not in _TEXT_PARTS:
            raise InvalidRequestError(f"{where}.content[{j}]: unknown part type {kind!r}",
                                      param=f"{where}.content[{j}]")
    return "\n".join(texts)


def input_messages(items: str | list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """The request's input as engine message dicts."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}] if items else []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise InvalidRequestError(f"{where}.role must be user, assistant, system or developer",
                                          param=f"{where}.role")
            out.append({"role": "system" if role == "developer" else role,
                        "content": _text(item.get("content", ""), model, where)})
        elif kind == "function_call":
            name = str(item.get("name") or "")
            if not name:
                raise InvalidRequestError(f"{where}.name is required", param=f"{where}.name")
            call: dict[str, Any] = {"id": str(item.get("call_id") or item.get("id") or ""), "type": "function",
                                    "function": {"name": name, "arguments": str(item.get("arguments", "{}"))}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":  # one turn: its text and its calls
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            out.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")),
                        "content": output if isinstance(output, str) else _text(output, model, where)})
        elif kind in ("reasoning", "item_reference", None) or not isinstance(kind, str):
            continue  # reasoning is not sent back to the model; references to other items are not kept
        else:
            raise InvalidRequestError(f"{where}.type {kind!r} is not an input item this server reads",
                                      param=f"{where}.type")
    return out


def _functions(tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Function tools, and a warning for each tool of a kind Frontier cannot run (dropped, not refused:
    agents send web search, file search and the like by default)."""
    functions, warnings = [], []
    for i, t in enumerate(tools):
        if t.get("type") != "function":
            warnings.append(f"tools[{i}]: tool type {t.get('type')!r} is not run by this server; it was left out")
            continue
        if not isinstance(t.get("name"), str) or not t["name"]:
            raise InvalidRequestError(f"tools[{i}].name is required", param=f"tools[{i}].name")
        parameters = t.get("parameters") or {"type": "object", "properties": {}}
        forced_tool.check_schema(parameters, f"tools[{i}].parameters")
        functions.append({"name": t["name"], "description": t.get("description") or "", "parameters": parameters})
    return functions, warnings


def _format(text: wire.TextConfig | None) -> Grammar | None:
    fmt = text.format if text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return Grammar(kind="json_schema", value=json.dumps({"type": "object"}))
    if fmt.schema_ is None:
        raise InvalidRequestError("text.format.schema is required for json_schema", param="text.format.schema")
    forced_tool.check_schema(fmt.schema_, "text.format.schema")
    return Grammar(kind="json_schema", value=json.dumps(fmt.schema_))


def to_plan(req: wire.ResponsesRequest, previous: list[dict[str, Any]]) -> Plan:
    """`previous`: the stored conversation of `previous_response_id` (empty without one)."""
    functions, warnings = _functions(req.tools)
    choice = req.tool_choice
    conversation = [*previous, *input_messages(req.input, req.model)]
    if not conversation:
        raise InvalidRequestError("input must not be empty", param="input")
    messages = ([{"role": "system", "content": req.instructions}] if req.instructions else []) + conversation
    effort = req.reasoning.effort if req.reasoning else None
    request = GenerationRequest(
        model=req.model, messages=messages, grammar=_format(req.text),
        params=SamplingParams(temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_output_tokens),
        reasoning_effort=None if effort is None else ("off" if effort in ("none", "minimal") else effort),
    )
    forced: tuple[forced_tool.ForcedTool, ...] = ()
    if isinstance(choice, wire.NamedFunction) or choice == "required":
        wanted = [f for f in functions if not isinstance(choice, wire.NamedFunction) or f["name"] == choice.name]
        if not wanted:
            raise InvalidRequestError("tool_choice names a function that is not among the tools"
                                      if functions else "tool_choice requires function tools", param="tool_choice")
        forced = tuple(forced_tool.ForcedTool(f["name"], f["description"], f["parameters"]) for f in wanted)
        request.messages = forced_tool.with_instruction(messages, forced)
        request.grammar = forced_tool.grammar(forced)
    elif functions and choice != "none":
        request.tools = [{"type": "function", "function": f} for f in functions]
        request.tool_choice = "auto"
    return Plan(request, conversation, forced, warnings)


def count_text(req: wire.InputTokensRequest, previous: list[dict[str, Any]]) -> str:
    """The text whose tokens /v1/responses/input_tokens counts: instructions, turns and function tools."""
    turns = [*previous, *input_messages(req.input, req.model)]
    parts = [req.instructions or ""] + [
        f"{m['role']}: {m.get('content') or ''}" + (f" {json.dumps(m['tool_calls'])}" if m.get("tool_calls") else "")
        for m in turns]
    parts += [json.dumps(t) for t in req.tools if t.get("type") == "function"]
    return "\n".join(p for p in parts if p)
