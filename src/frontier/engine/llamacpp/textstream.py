"""Turning a stream of token pieces (bytes) into text deltas, with stop strings. Pure: no engine here.

Two things make this more than `bytes.decode`: a multi-byte character can be split across tokens (hold the
incomplete tail until it completes), and a stop string can be split across tokens (hold back any tail that
could still become a stop string, and cut the text where one completes, so it never reaches the client).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field


@dataclass(slots=True)
class TextStream:
    stops: list[str] = field(default_factory=list)
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _held: str = ""  # decoded text not yet released: it may be the start of a stop string
    stopped: bool = False
    matched: str = ""  # the stop string that ended the text (Anthropic's `stop_sequence` reports it)

    def push(self, piece: bytes) -> str:
        """Adds one token's bytes; returns the text that is now safe to send (may be empty).
        Once a stop string completes, `stopped` is set and everything from it on is dropped."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(piece)
        return self._release()

    def finish(self) -> str:
        """The end of generation: whatever is still held is final text."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(b"", final=True)
        out, self._held = self._held, ""
        return out

    def _release(self) -> str:
        text = self._held
        found = [(i, s) for s in self.stops if s and (i := text.find(s)) >= 0]
        if found:
            cut, self.matched = min(found)
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = self._partial_stop_tail(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def _partial_stop_tail(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of some stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if stop.startswith(text[-n:]):
                    best = n
                    break
        return best
