"""Pure statistics over request records: percentiles and one concurrency level's aggregates.

Percentiles use linear interpolation between closest ranks (numpy's default, `method="linear"`): for sorted
values v[0..n-1], the q-th percentile sits at rank r = q/100 * (n-1), i.e. v[floor r] + frac(r) * (v[ceil r]
- v[floor r]). Hand-checkable: the p50 of [1, 2, 3, 4] is 2.5, the p90 of 1..11 is 10.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from frontier.bench.record import RequestRecord

QUANTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True, slots=True)
class Distribution:
    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, "mean": self.mean, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "max": self.max}


def distribution(values: Iterable[float]) -> Distribution | None:
    """None for no values, so that a level where every request failed reports no latencies, not zeros."""
    data = list(values)
    if not data:
        return None
    p50, p90, p99 = (percentile(data, q) for q in QUANTILES)
    return Distribution(len(data), sum(data) / len(data), p50, p90, p99, max(data))


@dataclass(frozen=True, slots=True)
class LevelStats:
    """One concurrency level of one endpoint. Rates divide by `duration`, the measured wall time (the sum of
    the measured windows when a level ran in several rounds), warm-up excluded."""

    concurrency: int
    requests: int
    errors: int
    duration: float
    output_tokens: int
    prompt_tokens_mean: float | None
    token_source: str
    requests_per_s: float
    output_tokens_per_s: float
    ttft: Distribution | None
    itl: Distribution | None
    tpot: Distribution | None
    e2e: Distribution | None
    error_samples: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        dists = {name: (d.as_dict() if d else None)
                 for name, d in (("ttft_s", self.ttft), ("itl_s", self.itl), ("tpot_s", self.tpot),
                                 ("e2e_s", self.e2e))}
        return {
            "concurrency": self.concurrency, "requests": self.requests, "errors": self.errors,
            "duration_s": self.duration, "output_tokens": self.output_tokens,
            "prompt_tokens_mean": self.prompt_tokens_mean, "token_source": self.token_source,
            "requests_per_s": self.requests_per_s, "output_tokens_per_s": self.output_tokens_per_s,
            **dists, "error_samples": list(self.error_samples),
        }


def level_stats(concurrency: int, records: Sequence[RequestRecord], duration: float) -> LevelStats:
    """Aggregates of the measured requests. Failed requests count as errors and contribute no latency; their
    partial output is not counted as throughput."""
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    tokens = sum(r.output_tokens for r in ok)
    prompts = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    sources = {r.token_source for r in ok}
    rate = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)
    return LevelStats(
        concurrency=concurrency,
        requests=len(records),
        errors=len(failed),
        duration=duration,
        output_tokens=tokens,
        prompt_tokens_mean=sum(prompts) / len(prompts) if prompts else None,
        token_source="usage" if sources <= {"usage"} else ("chunks" if sources == {"chunks"} else "mixed"),
        requests_per_s=rate(len(ok)),
        output_tokens_per_s=rate(tokens),
        ttft=distribution(t for r in ok if (t := r.ttft) is not None),
        itl=distribution(g for r in ok for g in r.gaps),
        tpot=distribution(t for r in ok if (t := r.tpot) is not None),
        e2e=distribution(r.e2e for r in ok),
        error_samples=tuple(sorted({r.error or "" for r in failed}))[:5],
    )


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b
