"""What one benchmark request measured. Times are `time.perf_counter()` seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokenSource = Literal["usage", "chunks"]


@dataclass(slots=True)
class RequestRecord:
    """One request: when it started, when each content chunk arrived, when it ended, and the counts.

    `output_tokens` comes from the server's own count (OpenAI `usage.completion_tokens`, Ollama `eval_count`);
    only when the server reports none is it the number of content chunks (`token_source == "chunks"`).
    """

    start: float
    end: float = 0.0
    chunk_times: list[float] = field(default_factory=list)
    output_tokens: int = 0
    prompt_tokens: int | None = None
    token_source: TokenSource = "usage"
    error: str | None = None
    turn: int = 0  # multi-turn: 0 = the opening turn
    cold: bool = False  # multi-turn: the uncached control request of a follow-up turn

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft(self) -> float | None:
        """Time to first token: request sent to first content chunk."""
        return self.chunk_times[0] - self.start if self.chunk_times else None

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def gaps(self) -> list[float]:
        """Inter-token latencies as seen on the wire: the gaps between consecutive content chunks."""
        t = self.chunk_times
        return [b - a for a, b in zip(t, t[1:], strict=False)]

    @property
    def tpot(self) -> float | None:
        """Time per output token after the first: (last chunk - first chunk) / (tokens - 1).

        Differs from the chunk gaps when a server packs several tokens into one chunk."""
        if len(self.chunk_times) < 2 or self.output_tokens < 2:
            return None
        return (self.chunk_times[-1] - self.chunk_times[0]) / (self.output_tokens - 1)

    def as_dict(self, origin: float) -> dict[str, object]:
        """JSON form; times in seconds, `start_s` relative to `origin` (the level's first request)."""
        return {
            "start_s": self.start - origin, "ttft_s": self.ttft, "e2e_s": self.e2e, "chunks": len(self.chunk_times),
            "output_tokens": self.output_tokens, "prompt_tokens": self.prompt_tokens,
            "token_source": self.token_source, "turn": self.turn, "cold": self.cold, "error": self.error,
        }
