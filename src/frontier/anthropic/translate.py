"""Pure translation of an Anthropic Messages request into the Engine protocol's GenerationRequest. No I/O.

Anthropic's content blocks map onto the OpenAI-style message dicts the engines template: text blocks join into
`content`, `tool_use` blocks become the assistant's `tool_calls`, each `tool_result` a `tool` message.
A forced tool (`tool_choice` `any` or `tool`) is generated under a grammar of the tool's `input_schema`, so the
input always validates, even on a model too small to call tools by itself (ToolPlan says how to read it back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from frontier.anthropic import wire
from frontier.engine import forced_tool
from frontier.engine.protocol import GenerationRequest, SamplingParams
from frontier.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """How the generated text is read back: with `forced` tools it is a call (engine/forced_tool.py)."""

    forced: tuple[forced_tool.ForcedTool, ...] = ()


def system_text(system: str | list[wire.TextBlock] | None) -> str:
    if system is None:
        return ""
    return system if isinstance(system, str) else "\n\n".join(b.text for b in system)


def _text_of(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.text for b in content if isinstance(b, wire.TextBlock))


def _refuse_media(model: str, index: int) -> None:
    raise InvalidRequestError(
        f"messages[{index}]: model {model!r} is text-only: image and document blocks cannot be read by it",
        param=f"messages[{index}].content")


def to_messages(req: wire.MessagesRequest | wire.CountTokensRequest) -> list[dict[str, Any]]:
    """The conversation as engine message dicts (system first)."""
    out: list[dict[str, Any]] = []
    # System turns inside `messages` join the system prompt, in order: many chat templates take one system
    # turn, first, and refuse others.
    systems = [system_text(req.system)] + [_text_of(m.content) for m in req.messages if m.role == "system"]
    system = "\n\n".join(s for s in systems if s)
    if system:
        out.append({"role": "system", "content": system})
    for i, m in enumerate(req.messages):
        if m.role == "system":
            continue
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for b in m.content:
            if isinstance(b, wire.TextBlock):
                texts.append(b.text)
            elif isinstance(b, wire.ImageBlock):
                _refuse_media(req.model, i)
            elif isinstance(b, wire.ToolUseBlock):
                if m.role != "assistant":
                    raise InvalidRequestError(f"messages[{i}]: tool_use blocks belong to assistant turns",
                                              param=f"messages[{i}].content")
                calls.append({"id": b.id, "type": "function",
                              "function": {"name": b.name, "arguments": json.dumps(b.input)}})
            elif isinstance(b, wire.ToolResultBlock):
                if m.role != "user":
                    raise InvalidRequestError(f"messages[{i}]: tool_result blocks belong to user turns",
                                              param=f"messages[{i}].content")
                if not isinstance(b.content, str) and any(isinstance(x, wire.ImageBlock) for x in b.content):
                    _refuse_media(req.model, i)
                result = _text_of(b.content)
                out.append({"role": "tool", "tool_call_id": b.tool_use_id,
                            "content": f"Error: {result}" if b.is_error else result})
            # thinking blocks of earlier turns are not sent back to the model, as with Anthropic's own models
        if calls:
            out.append({"role": "assistant", "content": "\n".join(texts) or None, "tool_calls": calls})
        elif texts or m.role == "assistant":
            out.append({"role": m.role, "content": "\n".join(texts)})
    return out


def _custom_tools(tools: list[wire.Tool] | None) -> list[wire.Tool]:
    """Anthropic's server tools (web search, code execution, ...) carry a versioned type: Frontier cannot run
    them, so they are left out rather than refused (agents send them by default)."""
    return [t for t in tools or [] if t.type in (None, "custom")]


def to_generation_request(req: wire.MessagesRequest) -> tuple[GenerationRequest, ToolPlan]:
    tools = _custom_tools(req.tools)
    for i, t in enumerate(tools):
        forced_tool.check_schema(t.input_schema, f"tools[{i}].input_schema")
    choice = req.tool_choice.type if req.tool_choice else "auto"
    if req.tool_choice and choice in ("any", "tool") and not tools:
        raise InvalidRequestError(f"tool_choice {choice!r} needs tools", param="tool_choice")
    chosen: list[wire.Tool] = []
    if choice == "tool":
        named = [t for t in tools if req.tool_choice and t.name == req.tool_choice.name]
        if not named:
            raise InvalidRequestError(f"tool_choice names {req.tool_choice and req.tool_choice.name!r}, which is "
                                      "not among the tools", param="tool_choice.name")
        chosen = named[:1]
    elif choice == "any":
        chosen = tools
    forced = tuple(forced_tool.ForcedTool(t.name, t.description, t.input_schema) for t in chosen)
    messages = to_messages(req)
    thinking = req.thinking.type in ("enabled", "adaptive") if req.thinking else None
    params = SamplingParams(temperature=req.temperature, top_p=req.top_p, top_k=req.top_k or None,
                            max_tokens=req.max_tokens, stop=list(req.stop_sequences))
    if forced:
        # The tools are described in the system turn and the answer constrained to their schema; the engine's
        # own tool-call parsing stays out of it (the text is the call).
        return GenerationRequest(model=req.model, messages=forced_tool.with_instruction(messages, forced),
                                 params=params, grammar=forced_tool.grammar(forced), enable_thinking=False), \
            ToolPlan(forced)
    openai_tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                      "parameters": t.input_schema}} for t in tools]
    return GenerationRequest(
        model=req.model, messages=messages, params=params,
        tools=openai_tools if openai_tools and choice != "none" else None,
        tool_choice="auto" if openai_tools and choice != "none" else None,
        enable_thinking=thinking,
    ), ToolPlan()


def count_text(req: wire.CountTokensRequest) -> str:
    """The text whose tokens /v1/messages/count_tokens counts: every turn and tool definition."""
    parts = [f"{m['role']}: {m.get('content') or ''}" + (f" {json.dumps(m['tool_calls'])}" if m.get("tool_calls")
                                                         else "") for m in to_messages(req)]
    parts += [f"tool {t.name}: {t.description} {json.dumps(t.input_schema)}" for t in _custom_tools(req.tools)]
    return "\n".join(parts)
