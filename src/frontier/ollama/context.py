"""`num_ctx` as a context budget: drop the oldest turns that do not fit, cap the new tokens by what is left.

Ollama keeps the system prompt and the latest message and lets older history fall out of the window;
a prompt that cannot fit even then is rejected here rather than silently cut mid-message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from frontier.errors import ContextLengthError

# Tokens a chat template adds around each message (ChatML: "<|im_start|>role\n" ... "<|im_end|>\n").
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Used only when the upstream cannot tokenize: about 3 bytes a token, erring towards counting more."""
    return (len(text.encode()) + 2) // 3


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    calls = message.get("tool_calls") or []
    return " ".join([content, *(call["function"]["name"] + call["function"]["arguments"] for call in calls)])


def fit_messages(
    messages: Sequence[dict[str, Any]], counts: Sequence[int], num_ctx: int, max_tokens: int | None
) -> tuple[list[dict[str, Any]], int]:
    """Keeps system messages and the last message; drops the oldest others (an assistant turn together
    with the tool results that answer it) until the prompt fits. Returns the kept messages and the
    max_tokens that still fits. Raises ContextLengthError when even the kept core does not fit."""
    sizes = [count + MESSAGE_OVERHEAD for count in counts]
    keep = [True] * len(messages)
    total = sum(sizes)
    last = len(messages) - 1
    position = 0
    while total >= num_ctx and position < last:
        if messages[position].get("role") != "system" and keep[position]:
            keep[position] = False
            total -= sizes[position]
            follower = position + 1
            # Tool results must not outlive the call they answer.
            while follower < last and messages[follower].get("role") == "tool":
                keep[follower] = False
                total -= sizes[follower]
                follower += 1
        position += 1
    if total >= num_ctx:
        raise ContextLengthError(f"input length ({total} tokens) exceeds the context length set by num_ctx ({num_ctx})")
    room = num_ctx - total
    return [m for m, kept in zip(messages, keep, strict=True) if kept], min(max_tokens or room, room)


def fit_prompt(prompt_tokens: int, num_ctx: int, max_tokens: int | None) -> int:
    """A single prompt (generate): it fits whole or the request is rejected. Returns max_tokens."""
    if prompt_tokens >= num_ctx:
        raise ContextLengthError(
            f"input length ({prompt_tokens} tokens) exceeds the context length set by num_ctx ({num_ctx})",
            param="prompt",
        )
    room = num_ctx - prompt_tokens
    return min(max_tokens or room, room)
