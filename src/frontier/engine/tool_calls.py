"""Tool calling for engines that see only text (llama.cpp): describing the tools to a model whose chat
template ignores them, and reading calls back out of the generated text. Pure.

Two output shapes are understood, the ones small open models are trained on: Hermes-style
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, and a bare JSON object (or list of
objects) with `name` and `arguments` (or `parameters`).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from frontier.engine.protocol import ToolCall

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def template_knows_tools(template: str) -> bool:
    return "tools" in template


def tools_system_text(tools: list[dict[str, Any]]) -> str:
    """A system-prompt section that teaches the call format, for templates without tool support."""
    specs = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tools)
    return (
        "You can call these tools:\n<tools>\n" + specs + "\n</tools>\n"
        "To call a tool, answer only with <tool_call>{\"name\": <tool name>, \"arguments\": <JSON object>}"
        "</tool_call>. Otherwise answer normally."
    )


def with_tools(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with the tool description added to the system message (or as a new first one)."""
    text = tools_system_text(tools)
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first.get('content') or ''}\n\n{text}".strip()
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _call(obj: Any, index: int) -> ToolCall | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=obj["name"],
                    arguments=json.dumps(args, ensure_ascii=False), index=index)


def parse(text: str, known: set[str]) -> list[ToolCall]:
    """The tool calls in `text`, only for tools that were offered; [] when the text is a plain answer."""
    bodies = _BLOCK.findall(text) or [text.strip()]
    calls: list[ToolCall] = []
    for body in bodies:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return []
        for obj in data if isinstance(data, list) else [data]:
            call = _call(obj, len(calls))
            if call is None or call.name not in known:
                return []
            calls.append(call)
    return calls


_OPEN = "<tool_call>"


class CallWatch:
    """One choice's text while tools are offered: prose streams as it comes, what may be a call is held.

    A text that starts as JSON (`{`, `[`) may be a bare call and is held whole; otherwise text streams until a
    `<tool_call>` block opens (any tail that could still become one is held back), and from there on is held.
    At the end the held part is parsed: calls, or plain text after all. So an agent sees a plain answer token by
    token instead of all at once when it ends, as it did while every tool-offered answer was held."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.text = ""
        self.sent = 0
        self.holding = False
        self.decided = False

    def push(self, piece: str) -> str:
        """Adds generated text; returns what can be shown now."""
        self.text += piece
        if not self.decided:
            start = self.text.lstrip()
            if not start:
                return ""
            self.decided = True
            self.holding = start[0] in "{["
        if self.holding:
            return ""
        opened = self.text.find(_OPEN, self.sent)
        if opened >= 0:
            self.holding = True
            safe = opened
        else:
            safe = len(self.text) - _partial_open(self.text)
        out, self.sent = self.text[self.sent:safe], max(self.sent, safe)
        return out

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(text not yet shown, calls): the held part read as calls where it is one, else as text."""
        rest = self.text[self.sent:]
        calls = parse(rest, self.known) if rest.strip() else []
        return ("", calls) if calls else (rest, [])


def _partial_open(text: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `<tool_call>`."""
    for n in range(min(len(_OPEN) - 1, len(text)), 0, -1):
        if _OPEN.startswith(text[-n:]):
            return n
    return 0
