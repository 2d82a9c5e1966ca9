"""The configured limits as one frozen dataclass, and the pure checks on a request's size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from frontier.config import Settings
from frontier.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class Limits:
    """Defaults match the Settings defaults, so an app built without settings (tests) is bounded too."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_tokens: int | None = None  # None: the context bounds it
    max_messages: int = 2048
    max_prompt_chars: int = 2_000_000
    slots: int = 8  # generations that run at once
    max_queue: int = 64  # generations that may wait beyond the running ones
    drain_seconds: float = 30.0
    retry_after: float = 2.0  # the hint a refused client gets

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        slots = settings.slots
        return cls(
            max_body_bytes=settings.frontier_max_body_bytes,
            max_tokens=settings.frontier_max_tokens,
            max_messages=settings.frontier_max_messages,
            max_prompt_chars=settings.frontier_max_prompt_chars,
            slots=slots,
            max_queue=settings.frontier_max_queue,
            drain_seconds=settings.frontier_drain_seconds,
        )


def text_chars(content: Any) -> int:
    """Characters of text in one message's content: a string, or OpenAI's list of parts (images count 0;
    the body size limit bounds them)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(part.get("text") or "") for part in content if isinstance(part, dict))
    return 0


def check_prompt(limits: Limits, messages: int, chars: int, param: str = "messages") -> None:
    """Raises a 400 naming the limit when a request carries too many messages or too much prompt text."""
    if messages > limits.max_messages:
        raise InvalidRequestError(
            f"too many messages: {messages}, the limit is {limits.max_messages} (FRONTIER_MAX_MESSAGES)",
            param="messages", code="too_many_messages",
        )
    if chars > limits.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt too long: {chars} characters, the limit is {limits.max_prompt_chars} "
            "(FRONTIER_MAX_PROMPT_CHARS)",
            param=param, code="prompt_too_long",
        )


def check_messages(limits: Limits, messages: Iterable[dict[str, Any]], extra_chars: int = 0) -> None:
    """check_prompt for OpenAI-shaped message dicts."""
    listed = list(messages)
    check_prompt(limits, len(listed), extra_chars + sum(text_chars(m.get("content")) for m in listed))


def capped_max_tokens(limits: Limits, wanted: int | None) -> int | None:
    """The max_tokens a request gets under FRONTIER_MAX_TOKENS (None still means: what the context leaves)."""
    if limits.max_tokens is None:
        return wanted
    return limits.max_tokens if wanted is None else min(wanted, limits.max_tokens)
