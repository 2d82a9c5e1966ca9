"""num_ctx as a context budget: which history is kept, and what max_tokens is left. No server."""

from __future__ import annotations

from typing import Any

import pytest

from frontier.errors import ContextLengthError
from frontier.ollama.context import MESSAGE_OVERHEAD, estimate_tokens, fit_messages, fit_prompt, message_text

OH = MESSAGE_OVERHEAD


def msgs(*roles: str) -> list[dict[str, Any]]:
    return [{"role": role, "content": f"{role}{i}"} for i, role in enumerate(roles)]


@pytest.mark.parametrize(
    ("roles", "counts", "num_ctx", "max_tokens", "kept", "left"),
    [
        (["system", "user"], [10, 10], 100, None, [0, 1], 100 - 20 - 2 * OH),
        (["system", "user"], [10, 10], 100, 5, [0, 1], 5),
        # the oldest turns go first; the system prompt and the last message stay
        (
            ["system", "user", "assistant", "user"],
            [10, 30, 30, 10],
            40 + 3 * OH,
            None,
            [0, 3],
            3 * OH + 20 - 2 * OH,
        ),
        (["user", "assistant", "user"], [30, 30, 10], 45, None, [2], 45 - 10 - OH),
        (["user", "assistant", "user"], [30, 30, 10], 50, None, [1, 2], 50 - 40 - 2 * OH),
        # tool results leave with the call they answer
        (
            ["system", "assistant", "tool", "tool", "user"],
            [5, 20, 20, 20, 5],
            30,
            None,
            [0, 4],
            30 - 10 - 2 * OH,
        ),
    ],
)
def test_fit_messages_drops_oldest_turns(
    roles: list[str], counts: list[int], num_ctx: int, max_tokens: int | None, kept: list[int], left: int
) -> None:
    messages = msgs(*roles)
    fitted, room = fit_messages(messages, counts, num_ctx, max_tokens)
    assert fitted == [messages[i] for i in kept]
    assert room == left


def test_a_prompt_that_cannot_fit_is_rejected() -> None:
    with pytest.raises(ContextLengthError, match="num_ctx"):
        fit_messages(msgs("system", "user"), [50, 50], 60, None)
    with pytest.raises(ContextLengthError, match="num_ctx"):
        fit_prompt(100, 100, None)


@pytest.mark.parametrize(
    ("prompt", "num_ctx", "max_tokens", "left"), [(10, 100, None, 90), (10, 100, 50, 50), (10, 100, 500, 90)]
)
def test_fit_prompt_caps_max_tokens(prompt: int, num_ctx: int, max_tokens: int | None, left: int) -> None:
    assert fit_prompt(prompt, num_ctx, max_tokens) == left


def test_message_text_covers_parts_and_tool_calls() -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}],
        "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
    }
    assert message_text(message) == "hi f{}"
    assert estimate_tokens("abcdef") == 2
