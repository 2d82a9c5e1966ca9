"""One generation's deltas gathered into a whole answer, for the dialects that answer non-streamed requests
from the Engine protocol's types directly (Anthropic Messages, the Responses API)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from frontier.engine.protocol import Delta, ToolCall, Usage


@dataclass
class Collected:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str | None = None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, d: Delta) -> None:
        if d.usage is not None:
            self.usage = d.usage
        self.text += d.text
        self.reasoning += d.reasoning
        self.tool_calls.extend(d.tool_calls)
        self.finish = d.finish_reason or self.finish
        self.stop_sequence = d.stop_sequence or self.stop_sequence


async def collect(first: Delta | None, stream: AsyncGenerator[Delta, None]) -> Collected:
    """The whole answer; the stream is closed however this ends (a cancelled collect frees the engine slot)."""
    c = Collected()
    try:
        if first is not None:
            c.add(first)
        async for d in stream:
            c.add(d)
    finally:
        await stream.aclose()
    return c
