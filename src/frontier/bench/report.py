"""The run's report: a rich table per target, comparison ratios, multi-turn speedups, and the JSON document."""

from __future__ import annotations

import datetime
import platform
from typing import Any

from rich.console import Console
from rich.table import Table

from frontier.bench.record import RequestRecord
from frontier.bench.runner import Plan, TargetResult
from frontier.bench.stats import Distribution, LevelStats, ratio

SCHEMA = "frontier-bench/1"


def _ms(d: Distribution | None, q: str) -> str:
    return "-" if d is None else f"{getattr(d, q) * 1000:.0f}"


def level_table(result: TargetResult) -> Table:
    table = Table(title=f"{result.name}: {result.api} {result.url} model={result.model}", title_justify="left")
    for col in ("conc", "reqs", "err", "req/s", "out tok/s", "TTFT ms p50/p90/p99", "ITL ms p50/p90/p99",
                "E2E s p50/p90/p99"):
        table.add_column(col, justify="right")
    for lv in result.levels:
        e2e = "-" if lv.e2e is None else f"{lv.e2e.p50:.2f}/{lv.e2e.p90:.2f}/{lv.e2e.p99:.2f}"
        table.add_row(
            str(lv.concurrency), str(lv.requests), f"[red]{lv.errors}[/red]" if lv.errors else "0",
            f"{lv.requests_per_s:.2f}", f"{lv.output_tokens_per_s:.1f}",
            "/".join(_ms(lv.ttft, q) for q in ("p50", "p90", "p99")),
            "/".join(_ms(lv.itl, q) for q in ("p50", "p90", "p99")), e2e,
        )
    return table


def comparison_rows(base: TargetResult, other: TargetResult) -> list[dict[str, Any]]:
    """Per level: other / base for throughput, latency medians and tails (above 1 = other is higher)."""
    rows = []
    for a, b in zip(base.levels, other.levels, strict=True):
        rows.append({
            "concurrency": a.concurrency,
            "output_tokens_per_s": ratio(b.output_tokens_per_s, a.output_tokens_per_s),
            "requests_per_s": ratio(b.requests_per_s, a.requests_per_s),
            "ttft_p50": ratio(_q(b.ttft, "p50"), _q(a.ttft, "p50")),
            "ttft_p99": ratio(_q(b.ttft, "p99"), _q(a.ttft, "p99")),
            "itl_p50": ratio(_q(b.itl, "p50"), _q(a.itl, "p50")),
            "e2e_p50": ratio(_q(b.e2e, "p50"), _q(a.e2e, "p50")),
        })
    return rows


def _q(d: Distribution | None, q: str) -> float | None:
    return None if d is None else float(getattr(d, q))


def comparison_table(base: TargetResult, other: TargetResult) -> Table:
    table = Table(title=f"{other.name} / {base.name} (1.00 = equal)", title_justify="left")
    rows = comparison_rows(base, other)
    columns = ("output_tokens_per_s", "requests_per_s", "ttft_p50", "ttft_p99", "itl_p50", "e2e_p50")
    table.add_column("conc", justify="right")
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(str(row["concurrency"]), *("-" if row[c] is None else f"{row[c]:.3f}" for c in columns))
    return table


def turns_table(result: TargetResult) -> Table:
    table = Table(title=f"{result.name}: multi-turn prefix reuse (cold = same length, opening swapped)",
                  title_justify="left")
    for col in ("conc", "turn", "warm TTFT ms p50", "cold TTFT ms p50", "cold / warm"):
        table.add_column(col, justify="right")
    for level, turns in result.turns.items():
        for t in turns:
            table.add_row(str(level), str(t.turn),
                          "-" if t.warm_ttft_p50 is None else f"{t.warm_ttft_p50 * 1000:.0f}",
                          "-" if t.cold_ttft_p50 is None else f"{t.cold_ttft_p50 * 1000:.0f}",
                          "-" if t.speedup is None else f"{t.speedup:.2f}x")
    return table


def print_report(console: Console, results: list[TargetResult], notes: list[str]) -> None:
    for result in results:
        console.print(level_table(result))
        if result.turns:
            console.print(turns_table(result))
    if len(results) == 2:
        console.print(comparison_table(results[0], results[1]))
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]")


def _level_dict(lv: LevelStats, records: list[RequestRecord]) -> dict[str, Any]:
    origin = min((r.start for r in records), default=0.0)
    return {**lv.as_dict(), "records": [r.as_dict(origin) for r in records]}


def to_json(plan: Plan, results: list[TargetResult], prompt_lengths: str, notes: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {"system": platform.system(), "machine": platform.machine(), "python": platform.python_version()},
        "plan": {
            "concurrency": list(plan.concurrency), "max_tokens": plan.max_tokens,
            "prompt_tokens": plan.prompt_tokens, "prompt_lengths": prompt_lengths,
            "requests_per_round": plan.requests, "duration_s": plan.duration, "warmup": plan.warmup,
            "rounds": plan.rounds, "seed": plan.seed, "turns": plan.turns, "turn_tokens": plan.turn_tokens,
        },
        "targets": [
            {
                "name": r.name, "api": r.api, "url": r.url, "model": r.model, "ignore_eos": r.ignore_eos,
                "levels": [_level_dict(lv, r.records.get(lv.concurrency, [])) for lv in r.levels],
                "multi_turn": {str(level): [t.as_dict() for t in turns] for level, turns in r.turns.items()},
            }
            for r in results
        ],
        "notes": notes,
    }
    if len(results) == 2:
        doc["comparison"] = {"base": results[0].name, "other": results[1].name,
                             "ratios": comparison_rows(results[0], results[1])}
    return doc
