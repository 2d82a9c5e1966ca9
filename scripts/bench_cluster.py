"""Frontier on Ray Serve against one `frontier serve`, on this machine, interleaved in one run (issue #20):

    .venv/bin/python scripts/bench_cluster.py --json docs/results/issue20-cluster.json

1. Throughput: C concurrent streams (each C of --streams) of --tokens tokens, alternating between the single
   server (all cores, one engine) and the cluster (`frontier cluster deploy --replicas R --threads T`: R engines
   of T threads each), aggregate tokens/s per round.
2. Added latency: N one-token chats on each side; the time outside the engine (wall time minus the engine's own
   prompt + completion seconds, which the usage reports) is the serving path's cost. Its difference, cluster
   minus single server, is what Serve's proxy and the handle hop add.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy in {within}s")


async def stream_round(client: httpx.AsyncClient, url: str, streams: int, tokens: int) -> float:
    async def one(i: int) -> int:
        body = {"model": MODEL, "max_tokens": tokens, "ignore_eos": True, "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": f"Tell a long story, part {i}."}]}
        done = 0
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if line.startswith("data: {") and '"usage"' in line:
                    usage = json.loads(line[6:]).get("usage")
                    done = usage["completion_tokens"] if usage else done
        return done

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(one(i) for i in range(streams))))
    return total / (time.perf_counter() - started)


async def outside_engine_ms(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        body = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": f"Hi {i}"}]}
        started = time.perf_counter()
        r = await client.post(f"{url}/v1/chat/completions", json=body)
        wall = time.perf_counter() - started
        usage = r.json()["usage"]
        out.append((wall - usage["prompt_seconds"] - usage["completion_seconds"]) * 1e3)
    return out


async def main(args: argparse.Namespace, single: str, cluster: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=128)) as client:
        for url in (single, cluster):
            await stream_round(client, url, 2, 8)  # warm both
        throughput = []
        for streams in args.streams:
            rates: dict[str, list[float]] = {"single": [], "cluster": []}
            for _ in range(args.rounds):
                for side, url in (("single", single), ("cluster", cluster), ("cluster", cluster), ("single", single)):
                    rate = await stream_round(client, url, streams, args.tokens)
                    rates[side].append(rate)
                    print(f"  {side:7s} {streams:2d} streams: {rate:6.1f} tok/s", flush=True)
            throughput.append({"streams": streams, **{f"{k}_tok_s": statistics.fmean(v) for k, v in rates.items()},
                               "cluster_over_single": statistics.fmean(rates["cluster"])
                               / statistics.fmean(rates["single"]), "rounds": rates})
        single_ms = await outside_engine_ms(client, single, args.requests)
        cluster_ms = await outside_engine_ms(client, cluster, args.requests)
    return {"replicas": args.replicas, "threads": args.threads, "tokens": args.tokens, "throughput": throughput,
            "outside_engine_p50_ms": {"single": statistics.median(single_ms), "cluster": statistics.median(cluster_ms)},
            "serve_added_p50_ms": statistics.median(cluster_ms) - statistics.median(single_ms)}


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {**os.environ, "MISTRAL_LOG_LEVEL": "warning", "HF_HUB_OFFLINE": "1"}
    single_port, cluster_port, gcs = free_port(), free_port(), free_port()
    frontier = [sys.executable, "-m", "frontier"]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-cluster-server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*frontier, "serve", "--port", str(single_port)], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        subprocess.run([*frontier, "cluster", "up", "--port", str(gcs)], env=env, check=True)
        subprocess.run([*frontier, "cluster", "deploy", "--replicas", str(args.replicas), "--threads",
                        str(args.threads), "--port", str(cluster_port), "--address", f"127.0.0.1:{gcs}"],
                       env=env, check=True)
        single, cluster = f"http://127.0.0.1:{single_port}", f"http://127.0.0.1:{cluster_port}"
        wait_healthy(single)
        wait_healthy(cluster)
        results = asyncio.run(main(args, single, cluster))
    finally:
        subprocess.run([*frontier, "cluster", "down"], env=env, capture_output=True)
        server.terminate()
        server.wait(timeout=60)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    cli()
