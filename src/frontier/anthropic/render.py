"""Pure translation of engine output (Delta, Usage) into Anthropic Messages answers: the whole message, or the
stream of typed events (message_start, content_block_start/delta/stop, message_delta, message_stop)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from frontier.anthropic.translate import ToolPlan
from frontier.engine import forced_tool
from frontier.engine.collected import Collected
from frontier.engine.protocol import Delta, Usage

Event = tuple[str, dict[str, Any]]  # (event type, data)


def usage_dict(usage: Usage) -> dict[str, Any]:
    # Anthropic counts prompt tokens read from the cache apart from input_tokens.
    return {"input_tokens": max(0, usage.prompt_tokens - usage.cached_tokens),
            "output_tokens": usage.completion_tokens,
            "cache_read_input_tokens": usage.cached_tokens, "cache_creation_input_tokens": 0}


def _input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def forced_call(text: str, plan: ToolPlan) -> tuple[str, dict[str, Any]] | None:
    return forced_tool.read_call(text, plan.forced)


def stop_reason(finish: str | None, stop_sequence: str | None, tool_use: bool) -> str:
    if finish == "length":
        return "max_tokens"
    if tool_use or finish == "tool_calls":
        return "tool_use"
    return "stop_sequence" if stop_sequence else "end_turn"


def message(mid: str, model: str, c: Collected, plan: ToolPlan, tool_id: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    tool_use = False
    if c.reasoning:
        content.append({"type": "thinking", "thinking": c.reasoning, "signature": ""})
    call = forced_call(c.text, plan) if plan.forced else None
    if call is not None:
        content.append({"type": "tool_use", "id": tool_id, "name": call[0], "input": call[1]})
        tool_use = True
    else:
        if c.text or not c.tool_calls:
            content.append({"type": "text", "text": c.text})
        for t in c.tool_calls:
            content.append({"type": "tool_use", "id": t.id, "name": t.name, "input": _input(t.arguments)})
            tool_use = True
    return {"id": mid, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason(c.finish, c.stop_sequence, tool_use),
            "stop_sequence": c.stop_sequence, "usage": usage_dict(c.usage)}


@dataclass
class StreamTranslator:
    """Deltas in, Anthropic events out. Blocks open as their first content arrives and close when another
    kind begins; a forced single tool streams its input as input_json_delta from the first token."""

    mid: str
    model: str
    plan: ToolPlan
    tool_id: str
    _index: int = -1
    _open: str = ""  # kind of the open block: text | thinking | tool_use | ""
    _forced_text: str = ""
    _c: Collected = field(default_factory=Collected)

    def start(self) -> list[Event]:
        empty = Usage()
        head: dict[str, Any] = {"id": self.mid, "type": "message", "role": "assistant", "model": self.model,
                                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage_dict(empty)}
        return [("message_start", {"type": "message_start", "message": head}), ("ping", {"type": "ping"})]

    def _begin(self, kind: str, block: dict[str, Any]) -> list[Event]:
        events = self._close()
        self._index += 1
        self._open = kind
        events.append(("content_block_start", {"type": "content_block_start", "index": self._index,
                                               "content_block": block}))
        return events

    def _close(self) -> list[Event]:
        if not self._open:
            return []
        events: list[Event] = []
        if self._open == "thinking":
            events.append(("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                                   "delta": {"type": "signature_delta", "signature": ""}}))
        self._open = ""
        return [*events, ("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _delta(self, delta: dict[str, Any]) -> Event:
        return ("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def push(self, d: Delta) -> list[Event]:
        self._c.add(d)
        events: list[Event] = []
        if d.reasoning:
            if self._open != "thinking":
                events += self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            events.append(self._delta({"type": "thinking_delta", "thinking": d.reasoning}))
        if d.text and self.plan.forced:
            self._forced_text += d.text
            if len(self.plan.forced) == 1:  # the name is known: stream the input as it is generated
                if self._open != "tool_use":
                    events += self._begin("tool_use", {"type": "tool_use", "id": self.tool_id,
                                                       "name": self.plan.forced[0].name, "input": {}})
                events.append(self._delta({"type": "input_json_delta", "partial_json": d.text}))
        elif d.text:
            if self._open != "text":
                events += self._begin("text", {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": d.text}))
        for t in d.tool_calls:
            events += self._begin("tool_use", {"type": "tool_use", "id": t.id, "name": t.name, "input": {}})
            events.append(self._delta({"type": "input_json_delta", "partial_json": t.arguments or "{}"}))
        return events

    def finish(self) -> list[Event]:
        c, events = self._c, []
        tool_use = bool(c.tool_calls)
        if self.plan.forced:
            call = forced_call(self._forced_text, self.plan)
            tool_use = call is not None
            if call is not None and len(self.plan.forced) > 1:  # the name was known only now
                events += self._begin("tool_use", {"type": "tool_use", "id": self.tool_id, "name": call[0],
                                                   "input": {}})
                events.append(self._delta({"type": "input_json_delta", "partial_json": json.dumps(call[1])}))
        if self._index < 0:  # nothing generated: still one (empty) text block, as Anthropic sends
            events += self._begin("text", {"type": "text", "text": ""})
        events += self._close()
        events.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(c.finish, c.stop_sequence, tool_use),
                      "stop_sequence": c.stop_sequence},
            "usage": usage_dict(c.usage)}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events
