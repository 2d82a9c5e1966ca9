"""Ollama's time formats: RFC3339 UTC stamps, nanosecond durations, and `keep_alive` values."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from frontier.errors import InvalidRequestError

FOREVER = float("inf")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def rfc3339(moment: datetime) -> str:
    """'2025-10-26T17:15:24.097767Z': UTC with `Z` (a naive isoformat breaks Go and pydantic clients)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339() -> str:
    # Every streamed line carries one, and most lines fall in a second already formatted: only the
    # microseconds are new (a third of what datetime.now().isoformat() costs).
    whole, fraction = divmod(time.time_ns(), 1_000_000_000)
    return f"{_utc_second(whole)}.{fraction // 1000:06d}Z"


@functools.lru_cache(maxsize=2)
def _utc_second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def from_unix(seconds: float) -> str:
    return rfc3339(datetime.fromtimestamp(seconds, UTC)) if seconds > 0 else now_rfc3339()


def in_seconds(seconds: float) -> str:
    """RFC3339 stamp `seconds` from now; 'forever' is shown the way Ollama shows it, centuries away."""
    span = timedelta(days=365 * 200) if seconds == FOREVER else timedelta(seconds=seconds)
    return rfc3339(datetime.now(UTC) + span)


def parse_keep_alive(value: float | str | None) -> float | None:
    """Seconds to keep the model loaded; None = server default, FOREVER for negative values.

    A number is seconds; a string is a Go duration ('5m', '1h30m', '-1s') or a bare number of seconds.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _go_duration(text)
    return FOREVER if seconds < 0 else seconds


def _go_duration(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    total, position = 0.0, 0
    for match in _GO_DURATION.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        raise InvalidRequestError(f"invalid keep_alive duration {text!r}", param="keep_alive")
    return sign * total


def nanos(seconds: float) -> int:
    """A duration clients may divide by: integer nanoseconds, never below 1."""
    return max(1, int(seconds * 1e9))


@dataclass(slots=True)
class Stopwatch:
    """Wall-clock marks of one request, in perf_counter seconds."""

    start: float
    upstream_start: float = 0.0
    first_token: float = 0.0

    @classmethod
    def started(cls) -> Stopwatch:
        return cls(time.perf_counter())

    def mark_upstream(self) -> None:
        self.upstream_start = time.perf_counter()

    def mark_token(self) -> None:
        if not self.first_token:
            self.first_token = time.perf_counter()
