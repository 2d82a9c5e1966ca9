"""Frontier against llama.cpp's own llama-server on a quiet machine and on one where another process keeps a
core busy: the measurement behind issue 17's table and docs/performance-tuning.md's "shared machine" section.

    .venv/bin/python scripts/bench_shared_machine.py                 # 3 rounds, about 12 minutes on 2 cores
    .venv/bin/python scripts/bench_shared_machine.py --rounds 1 --window 6

Starts three servers on loopback: Frontier as `make run` starts it (the default model, served by the llama.cpp
engine from its Q8_0 copy), and llama-server (scripts/build-llama-server.sh: the llama.cpp vendored in the
installed llama-cpp-python) with `-np 8 -c 8192 -t <cores>` on that same Q8_0 file and on the shipped Q4_1 file.
Each round measures, per condition (quiet; busy: `python3 -c "while True: pass"` running), every server in a
rotated order, at 1 and 8 concurrent streams: each stream sends chats back to back (128 new tokens,
`ignore_eos`, greedy, a fresh prompt each) for a fixed window. Throughput counts the tokens streamed inside the
window, so a server too slow to finish one answer still gets its rate, where a per-request count would wait
for ever. TTFT is over the requests that got a first token in the window. Tokens/s is the median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from frontier.bench.stats import percentile  # noqa: E402
from frontier.bench.workload import estimated_prompt  # noqa: E402

MODEL = REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
BUSY = [sys.executable, "-c", "while True: pass"]


@dataclass
class Window:
    tokens: int = 0
    ttfts: list[float] = field(default_factory=list)
    finished: int = 0
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0  # kept-alive connections the server closed, retried at once


@dataclass
class Server:
    name: str
    url: str
    model: str
    proc: subprocess.Popen[bytes] | None = None


async def _stream(client: httpx.AsyncClient, server: Server, prompt: str, max_tokens: int, end: float,
                  into: Window) -> None:
    body = {"model": server.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": True, "temperature": 0, "ignore_eos": True}
    start = time.perf_counter()
    first = True
    async with client.stream("POST", f"{server.url}/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{server.name}: HTTP {response.status_code}: {(await response.aread())[:200]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if not choices[0].get("delta", {}).get("content"):
                continue
            now = time.perf_counter()
            if now > end:
                return
            into.tokens += 1
            if first:
                into.ttfts.append(now - start)
                first = False
    into.finished += 1


async def measure(server: Server, streams: int, seconds: float, max_tokens: int, tag: str) -> Window:
    window = Window()
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        # Warm-up: the connection, and a look at the machine's load (Frontier's thread count) before timing.
        await _stream(client, server, "Say hi.", 4, time.perf_counter() + 60, Window())
        await asyncio.sleep(1.0)  # the machine settles after the previous server's load, for every server alike
        end = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            n = 0
            while time.perf_counter() < end:
                prompt = estimated_prompt(f"{tag}-{k}-{n}", 64).text
                n += 1
                try:
                    await _stream(client, server, prompt, max_tokens, end, window)
                except httpx.RemoteProtocolError as exc:
                    # llama-server closes a kept-alive connection now and then ("Server disconnected without
                    # sending a response"); SDK clients retry that at once, so the benchmark does too, unpenalized.
                    window.reconnects += 1
                    if window.reconnects > 50:
                        raise RuntimeError(f"{server.name}: connections keep failing: {exc}") from exc
                except (httpx.HTTPError, RuntimeError) as exc:  # recorded and reported, never a lost run
                    window.errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(worker(k)) for k in range(streams)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 1)
    return window


def _wait_healthy(server: Server, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} not healthy in {timeout:.0f}s")


def start_servers(out: Path, cores: int) -> list[Server]:
    env = {**os.environ, "MISTRAL_API_PORT": "18180", "MISTRAL_HOST": "127.0.0.1",
           "MISTRAL_MODELS_PATH": str(MODEL.parent), "MISTRAL_MODEL_ID": MODEL.name}
    frontier = Server("Frontier", "http://127.0.0.1:18180", MODEL.name)
    frontier.proc = subprocess.Popen([str(REPO / ".venv/bin/frontier"), "serve"], env=env,
                                     stdout=(out / "frontier.log").open("wb"), stderr=subprocess.STDOUT)
    _wait_healthy(frontier)  # it writes the Q8_0 copy llama-server is given next
    q8 = sorted((MODEL.parent / ".derived").glob(f"{MODEL.stem}*q8_0.gguf"))
    if not q8:
        raise RuntimeError("Frontier made no Q8_0 copy: is it serving this model on the llama.cpp engine?")
    binary = subprocess.run([str(REPO / "scripts/build-llama-server.sh")], check=True, capture_output=True,
                            text=True).stdout.strip()
    servers = [frontier]
    for name, path, port in (("llama-server Q8_0", q8[0], 18190), ("llama-server Q4_1", MODEL, 18191)):
        server = Server(name, f"http://127.0.0.1:{port}", path.name)
        server.proc = subprocess.Popen(
            [binary, "-m", str(path), "--host", "127.0.0.1", "--port", str(port), "-np", "8", "-c", "8192",
             "-t", str(cores)], stdout=(out / f"{name.replace(' ', '-')}.log").open("wb"), stderr=subprocess.STDOUT)
        servers.append(server)
    for server in servers:
        _wait_healthy(server)
    return servers


def summarize(samples: dict[str, list[Window]], seconds: dict[int, float]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, windows in samples.items():
        streams = int(key.rsplit("|", 1)[1])
        rates = [w.tokens / seconds[streams] for w in windows]
        ttfts = [t for w in windows for t in w.ttfts]
        summary[key] = {
            "tok_s_median": statistics.median(rates), "tok_s_runs": rates,
            "ttft_p50_s": percentile(ttfts, 50) if ttfts else None,
            "ttft_p99_s": percentile(ttfts, 99) if ttfts else None,
            "first_tokens": len(ttfts), "finished": sum(w.finished for w in windows),
            "errors": [e for w in windows for e in w.errors][:5],
            "reconnects": sum(w.reconnects for w in windows),
        }
    return summary


def table(summary: dict[str, Any], names: list[str]) -> str:
    def cell(key: str) -> str:
        s = summary.get(key)
        if not s:
            return "-"
        ttft = "no first token" if s["ttft_p50_s"] is None else \
            f"TTFT p50 {s['ttft_p50_s'] * 1000:.0f} / p99 {s['ttft_p99_s'] * 1000:.0f} ms"
        return f"{s['tok_s_median']:.1f} tok/s ({ttft})"

    lines = ["| condition | " + " | ".join(names) + " | Frontier / llama-server Q8_0 |",
             "|---|" + "---|" * (len(names) + 1)]
    for cond in ("quiet", "busy"):
        for streams in (1, 8):
            keys = [f"{cond}|{n}|{streams}" for n in names]
            base, other = summary.get(keys[0]), summary.get(keys[1])
            ratio = f"{base['tok_s_median'] / other['tok_s_median']:.2f}x" if base and other and \
                other["tok_s_median"] else "-"
            label = f"{cond}, {streams} stream{'s' if streams > 1 else ''}"
            lines.append(f"| {label} | " + " | ".join(cell(k) for k in keys) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per measurement at 1 stream")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=REPO / ".cache/bench-shared-machine")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    seconds = {1: args.window, 8: args.window * 1.5}
    servers = start_servers(args.out, cores)
    samples: dict[str, list[Window]] = {}
    busy: subprocess.Popen[bytes] | None = None
    try:
        for rnd in range(args.rounds):
            for cond in ("quiet", "busy"):
                if cond == "busy":
                    busy = subprocess.Popen(BUSY)
                    time.sleep(1.0)
                order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
                for server in order:
                    for streams in (1, 8):
                        tag = f"{rnd}-{cond}-{streams}"
                        w = asyncio.run(measure(server, streams, seconds[streams], args.max_tokens, tag))
                        samples.setdefault(f"{cond}|{server.name}|{streams}", []).append(w)
                        print(f"round {rnd + 1} {cond:5} {server.name:18} {streams} stream(s): "
                              f"{w.tokens / seconds[streams]:6.1f} tok/s, {len(w.ttfts)} first tokens, "
                              f"{w.finished} finished, {len(w.errors)} errors, {w.reconnects} reconnects", flush=True)
                if busy is not None:
                    busy.kill()
                    busy.wait()
                    busy = None
    finally:
        if busy is not None:
            busy.kill()
        for server in servers:
            if server.proc is not None:
                server.proc.terminate()
                server.proc.wait(timeout=30)
    summary = summarize(samples, seconds)
    names = [s.name for s in servers]
    report = table(summary, names)
    result = {"cores": cores, "rounds": args.rounds, "window_s": seconds, "max_tokens": args.max_tokens,
              "servers": names, "summary": summary, "table": report}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    print(report)
    print(f"results: {args.out / 'result.json'}")


if __name__ == "__main__":
    main()
