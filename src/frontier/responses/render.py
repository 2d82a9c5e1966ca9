"""Pure translation of engine output into Responses API objects: the response with its output items, the
conversation turns to store, and the typed stream events (each with its sequence number)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from frontier.engine import forced_tool
from frontier.engine.collected import Collected
from frontier.engine.protocol import Delta, Usage
from frontier.responses import wire

Event = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class Ids:
    """The ids of one response and its items, fixed before the first event."""

    response: str = field(default_factory=lambda: new_id("resp"))
    message: str = field(default_factory=lambda: new_id("msg"))
    reasoning: str = field(default_factory=lambda: new_id("rs"))
    created: int = field(default_factory=lambda: int(time.time()))


def usage_dict(u: Usage) -> dict[str, Any]:
    return {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.total_tokens}


def _message_item(ids: Ids, text: str, status: str) -> dict[str, Any]:
    return {"type": "message", "id": ids.message, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def _call_item(name: str, arguments: str, call_id: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "function_call", "id": "fc_" + call_id.removeprefix("call_"), "call_id": call_id,
            "name": name, "arguments": arguments, "status": status}


def _reasoning_item(ids: Ids, text: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": ids.reasoning, "summary": [{"type": "summary_text", "text": text}]}


def calls_of(c: Collected, forced: tuple[forced_tool.ForcedTool, ...]) -> list[tuple[str, str, str]] | None:
    """(name, arguments, call_id) of each call; None where a forced call was cut short (then it is text)."""
    if forced:
        call = forced_tool.read_call(c.text, forced)
        return None if call is None else [(call[0], json.dumps(call[1]), new_id("call"))]
    return [(t.name, t.arguments, t.id if t.id.startswith("call_") else "call_" + t.id) for t in c.tool_calls]


def output_items(ids: Ids, c: Collected, forced: tuple[forced_tool.ForcedTool, ...]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if c.reasoning:
        items.append(_reasoning_item(ids, c.reasoning))
    calls = calls_of(c, forced)
    if (not forced or calls is None) and (c.text or not calls):  # a forced call cut short is said as text
        items.append(_message_item(ids, c.text, "completed" if c.finish != "length" else "incomplete"))
    items += [_call_item(name, arguments, call_id) for name, arguments, call_id in calls or []]
    return items


def as_turns(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output items as conversation turns, for a later previous_response_id."""
    text = "".join(p["text"] for i in items if i["type"] == "message" for p in i["content"])
    calls = [{"id": i["call_id"], "type": "function", "function": {"name": i["name"], "arguments": i["arguments"]}}
             for i in items if i["type"] == "function_call"]
    turn: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        turn["tool_calls"] = calls
    return [turn]


def response(ids: Ids, req: wire.ResponsesRequest, status: str, output: list[dict[str, Any]], usage: Usage | None,
             warnings: list[str], finish: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    text = "".join(p["text"] for i in output if i["type"] == "message" for p in i["content"])
    body: dict[str, Any] = {
        "id": ids.response, "object": "response", "created_at": ids.created, "status": status,
        "model": req.model, "output": output, "output_text": text, "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if finish == "length" else None,
        "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
        "temperature": req.temperature, "top_p": req.top_p, "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id, "store": req.store, "metadata": req.metadata or {},
        "tool_choice": (req.tool_choice.model_dump() if isinstance(req.tool_choice, wire.NamedFunction)
                        else req.tool_choice or "auto"),
        "tools": req.tools, "text": {"format": {"type": "text"}} if req.text is None else
        req.text.model_dump(by_alias=True, exclude_none=True),
        "reasoning": {"effort": req.reasoning.effort if req.reasoning else None, "summary": None},
        "truncation": "disabled", "usage": usage_dict(usage) if usage is not None else None,
    }
    if warnings:
        body["warnings"] = warnings  # Frontier extension: what the request asked for that was left out
    return body


@dataclass
class StreamTranslator:
    """Deltas in, typed events out: created/in_progress, then per output item added, its parts and deltas,
    done, and finally response.completed (or incomplete) with the whole response."""

    ids: Ids
    req: wire.ResponsesRequest
    forced: tuple[forced_tool.ForcedTool, ...]
    warnings: list[str]
    collected: Collected = field(default_factory=Collected)
    _seq: int = 0
    _text_open: bool = False
    _index: int = -1

    def _event(self, kind: str, **fields: Any) -> Event:
        self._seq += 1
        return {"type": kind, "sequence_number": self._seq, **fields}

    def start(self) -> list[Event]:
        head = response(self.ids, self.req, "in_progress", [], None, self.warnings)
        return [self._event("response.created", response=head), self._event("response.in_progress", response=head)]

    def push(self, d: Delta) -> list[Event]:
        self.collected.add(d)
        if not d.text or self.forced:  # a forced call is read whole at the end
            return []
        events: list[Event] = []
        if not self._text_open:
            self._text_open = True
            self._index += 1
            events.append(self._event("response.output_item.added", output_index=self._index,
                                      item={**_message_item(self.ids, "", "in_progress"), "content": []}))
            events.append(self._event("response.content_part.added", item_id=self.ids.message,
                                      output_index=self._index, content_index=0,
                                      part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
        events.append(self._event("response.output_text.delta", item_id=self.ids.message, output_index=self._index,
                                  content_index=0, delta=d.text, logprobs=[]))
        return events

    def finish(self) -> tuple[list[Event], dict[str, Any], list[dict[str, Any]]]:
        """The closing events, the final response, and its output items."""
        c, events = self.collected, []
        items = output_items(self.ids, c, self.forced)
        message = next((i for i in items if i["type"] == "message"), None)
        if self._text_open and message is not None:
            part = message["content"][0]
            events.append(self._event("response.output_text.done", item_id=self.ids.message,
                                      output_index=self._index, content_index=0, text=part["text"], logprobs=[]))
            events.append(self._event("response.content_part.done", item_id=self.ids.message,
                                      output_index=self._index, content_index=0, part=part))
            events.append(self._event("response.output_item.done", output_index=self._index, item=message))
        elif message is not None:  # no text was streamed (an empty answer, or a forced call cut short)
            self._index += 1
            events.append(self._event("response.output_item.added", output_index=self._index, item=message))
            events.append(self._event("response.output_item.done", output_index=self._index, item=message))
        for item in items:
            if item["type"] != "function_call":
                continue
            self._index += 1
            events.append(self._event("response.output_item.added", output_index=self._index,
                                      item={**item, "arguments": "", "status": "in_progress"}))
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                      output_index=self._index, delta=item["arguments"]))
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                      output_index=self._index, arguments=item["arguments"], name=item["name"]))
            events.append(self._event("response.output_item.done", output_index=self._index, item=item))
        # The final response lists its items in output order: the message (streamed first), then calls.
        ordered = [i for i in items if i["type"] == "reasoning"] + ([message] if message else []) + [
            i for i in items if i["type"] == "function_call"]
        status = "incomplete" if c.finish == "length" else "completed"
        final = response(self.ids, self.req, status, ordered, c.usage, self.warnings, c.finish)
        events.append(self._event(f"response.{status}", response=final))
        return events, final, ordered

    def failed(self, message: str) -> Event:
        final = response(self.ids, self.req, "failed", [], None, self.warnings,
                         error={"code": "server_error", "message": message})
        return self._event("response.failed", response=final)
