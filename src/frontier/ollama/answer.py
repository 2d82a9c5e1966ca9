"""What the Ollama capability answers: one JSON object, or an opened stream of NDJSON lines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Stream:
    """An opened stream of Ollama lines; `aclose` releases what feeds it even if `lines` never ran."""

    lines: AsyncIterator[dict[str, Any]]
    aclose: Callable[[], Awaitable[None]]


Answer = dict[str, Any] | Stream


async def listed(lines: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for line in lines:
        yield line


async def nothing() -> None:
    return None
