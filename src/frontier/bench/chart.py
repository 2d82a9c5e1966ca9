"""A PNG of throughput and time to first token against concurrency, one line per target."""

from __future__ import annotations

from pathlib import Path

from frontier.bench.runner import TargetResult


def write_chart(results: list[TargetResult], path: Path, title: str = "frontier bench") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    fig, (tput, ttft) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        levels = [lv.concurrency for lv in r.levels]
        tput.plot(levels, [lv.output_tokens_per_s for lv in r.levels], marker="o", label=r.name)
        for q, style in (("p50", "-"), ("p99", "--")):
            values = [getattr(lv.ttft, q) if lv.ttft else float("nan") for lv in r.levels]
            ttft.plot(levels, values, marker="o", linestyle=style, label=f"{r.name} {q}")
    tput.set(xlabel="concurrent streams", ylabel="output tokens/s (aggregate)", title="throughput")
    ttft.set(xlabel="concurrent streams", ylabel="seconds", title="time to first token")
    for ax in (tput, ttft):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(sorted({lv.concurrency for r in results for lv in r.levels}))
    tput.set_ylim(bottom=0)
    ttft.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
