"""Frontier against llama-server when streams end at different times: 2, 4 and 6 streams whose answers have
varied lengths (as real chats do), where the fixed-length streams of bench_shared_machine.py stay in step.

    .venv/bin/python scripts/bench_mixed_lengths.py                  # 3 rounds, about 8 minutes on 2 cores
    .venv/bin/python scripts/bench_mixed_lengths.py --rounds 1 --streams 4 --busy  # one core kept busy

The same servers as bench_shared_machine.py (Frontier as `make run` starts it, llama-server `-np 8 -c 8192` on
its Q8_0 copy and on the shipped Q4_1 file). Each stream sends chats back to back, each asking for a seeded
random 16-160 new tokens (`ignore_eos`, greedy, a fresh prompt each); every server gets the same lengths in the
same order. Throughput counts the tokens streamed inside the window; servers rotate in order each round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_shared_machine import BUSY, REPO, Server, Window, _stream, start_servers  # noqa: E402

sys.path.insert(0, str(REPO / "src"))
from frontier.bench.stats import percentile  # noqa: E402
from frontier.bench.workload import estimated_prompt  # noqa: E402

SHORTEST, LONGEST = 16, 160


async def measure(server: Server, streams: int, seconds: float, tag: str) -> Window:
    window = Window()
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        await _stream(client, server, "Say hi.", 4, time.perf_counter() + 60, Window())
        await asyncio.sleep(1.0)
        end = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            lengths = random.Random(f"{tag}-{k}")  # the same lengths, in the same order, for every server
            n = 0
            while time.perf_counter() < end:
                prompt = estimated_prompt(f"{tag}-{k}-{n}", 64).text
                n += 1
                try:
                    await _stream(client, server, prompt, lengths.randint(SHORTEST, LONGEST), end, window)
                except httpx.RemoteProtocolError:  # llama-server's kept-alive connection closed: retried
                    window.reconnects += 1
                except (httpx.HTTPError, RuntimeError) as exc:
                    window.errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.2)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(worker(k) for k in range(streams))), timeout=seconds + 1)
    return window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--busy", action="store_true", help='with `python3 -c "while True: pass"` running')
    parser.add_argument("--out", type=Path, default=REPO / ".cache/bench-mixed-lengths")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    servers = start_servers(args.out, len(os.sched_getaffinity(0)))
    samples: dict[str, list[Window]] = {}
    busy = subprocess.Popen(BUSY) if args.busy else None
    try:
        for rnd in range(args.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for streams in args.streams:
                for server in order:
                    w = asyncio.run(measure(server, streams, args.window, f"{rnd}-{streams}"))
                    samples.setdefault(f"{server.name}|{streams}", []).append(w)
                    print(f"round {rnd + 1} {server.name:18} {streams} streams: {w.tokens / args.window:6.1f} tok/s, "
                          f"{w.finished} finished, {len(w.errors)} errors", flush=True)
    finally:
        if busy is not None:
            busy.kill()
        for server in servers:
            if server.proc is not None:
                server.proc.terminate()
                server.proc.wait(timeout=30)
    names = [s.name for s in servers]
    summary: dict[str, Any] = {}
    lines = ["| streams | " + " | ".join(names) + " | Frontier / llama-server Q8_0 |",
             "|---|" + "---|" * (len(names) + 1)]
    for streams in args.streams:
        cells, rates = [], []
        for name in names:
            windows = samples[f"{name}|{streams}"]
            rate = statistics.median(w.tokens / args.window for w in windows)
            ttfts = [t for w in windows for t in w.ttfts]
            p50 = percentile(ttfts, 50) if ttfts else None
            summary[f"{name}|{streams}"] = {"tok_s_median": rate,
                                            "tok_s_runs": [w.tokens / args.window for w in windows],
                                            "ttft_p50_s": p50, "errors": [e for w in windows for e in w.errors][:5]}
            rates.append(rate)
            cells.append(f"{rate:.1f} tok/s (TTFT p50 {p50 * 1000:.0f} ms)" if p50 else f"{rate:.1f} tok/s")
        ratio = f"{rates[0] / rates[1]:.2f}x" if rates[1] else "-"
        lines.append(f"| {streams} | " + " | ".join(cells) + f" | {ratio} |")
    report = "\n".join(lines)
    result = {"rounds": args.rounds, "busy": args.busy, "window_s": args.window, "lengths": [SHORTEST, LONGEST],
              "servers": names, "summary": summary, "table": report}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    print(report)
    print(f"results: {args.out / 'result.json'}")


if __name__ == "__main__":
    main()
