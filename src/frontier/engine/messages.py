"""Chat history as both local engines take it: {role, content} string dicts (the models are text-only)."""

from __future__ import annotations

import json
from typing import Any

from frontier.errors import InvalidRequestError


def _flatten_content(content: Any, index: int) -> str:
    """OpenAI content may be a list of parts; the served models are text-only."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        else:
            raise InvalidRequestError(
                f"messages[{index}].content: part type {kind!r} is not supported by this text-only model",
                param=f"messages[{index}].content",
                code="unsupported_content",
            )
    return "".join(texts)


def to_engine_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """{role, content} string dicts. Tool traffic in the history is kept readable:
    an assistant's tool calls become JSON text, a tool result keeps its role."""
    out: list[dict[str, str]] = []
    for i, msg in enumerate(messages):
        content = _flatten_content(msg.get("content"), i)
        calls = msg.get("tool_calls") or []
        if calls and not content:
            content = json.dumps(
                [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls]
            )
        out.append({"role": str(msg["role"]), "content": content})
    return out
