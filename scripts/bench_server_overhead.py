"""Aggregate tokens/s at 1 and 8 concurrent streams, through the HTTP server and through the engine directly,
in one run (issue #2's overhead check; not a test).

The server runs as a `frontier serve` child process; the direct measurement drives the same engine class
in this process. Both have the same settings and prompts, and the runs alternate (engine, server, engine, ...)
so that drift on the machine hits both alike. Only one side generates at a time.

    .venv/bin/python scripts/bench_server_overhead.py [--rounds 3] [--max-tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from frontier.config import load_settings
from frontier.engine.factory import build_engine
from frontier.engine.protocol import Engine, GenerationRequest, SamplingParams

REPO = Path(__file__).resolve().parent.parent
PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how rainbows form.",
    "Describe a walk through a forest in autumn.",
    "Tell me about the history of bicycles.",
    "Write a poem about the sea.",
    "Explain what a compiler does.",
    "Describe your ideal breakfast.",
    "Tell me a story about a clever fox.",
]


async def engine_run(engine: Engine, model: str, streams: int, max_tokens: int) -> tuple[int, float]:
    async def one(i: int) -> int:
        req = GenerationRequest(model=model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                params=SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True))
        tokens = 0
        async for d in engine.generate(req):
            if d.usage is not None:
                tokens = d.usage.completion_tokens
        return tokens

    start = time.perf_counter()
    counts = await asyncio.gather(*(one(i) for i in range(streams)))
    return sum(counts), time.perf_counter() - start


async def http_run(url: str, model: str, streams: int, max_tokens: int) -> tuple[int, float]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        async def one(i: int) -> int:
            body = {"model": model, "stream": True, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
                    "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    "stream_options": {"include_usage": True}}
            tokens = 0
            async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if line.startswith("data: {"):
                        event = json.loads(line[6:])
                        if event.get("usage") and not event["choices"]:
                            tokens = event["usage"]["completion_tokens"]
            return tokens

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(streams)))
        return sum(counts), time.perf_counter() - start


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MISTRAL_API_PORT": str(port), "MISTRAL_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "frontier", "serve"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not become healthy")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--port", type=int, default=18089)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(REPO)
    settings = load_settings()
    engine = build_engine(settings)
    await engine.load()
    model = engine.models()[0].id
    server = start_server(args.port)
    url = f"http://127.0.0.1:{args.port}"
    levels = [int(x) for x in args.concurrency.split(",")]
    results: dict[str, dict[int, list[float]]] = {"engine": {n: [] for n in levels}, "server": {n: [] for n in levels}}
    try:
        for n in levels:  # warm-up, excluded
            await engine_run(engine, model, n, 16)
            await http_run(url, model, n, 16)
        for r in range(args.rounds):
            for n in levels:
                # Alternate which side goes first: later runs in a round benefit from a warmer machine.
                for side in (("engine", "server") if r % 2 == 0 else ("server", "engine")):
                    if side == "engine":
                        tok, secs = await engine_run(engine, model, n, args.max_tokens)
                    else:
                        tok, secs = await http_run(url, model, n, args.max_tokens)
                    results[side][n].append(tok / secs)
    finally:
        server.terminate()
        server.wait(30)
        await engine.close()
    summary = []
    print(f"{'streams':>7} {'engine tok/s':>13} {'server tok/s':>13} {'server/engine':>14}   (medians; runs below)")
    for n in levels:
        e, s = statistics.median(results["engine"][n]), statistics.median(results["server"][n])
        summary.append({"streams": n, "engine_tok_s": round(e, 1), "server_tok_s": round(s, 1),
                        "ratio": round(s / e, 3), "engine_runs": results["engine"][n],
                        "server_runs": results["server"][n]})
        print(f"{n:>7} {e:>13.1f} {s:>13.1f} {s / e:>13.1%}")
        print(f"{'':>7} engine runs {[round(x, 1) for x in results['engine'][n]]}")
        print(f"{'':>7} server runs {[round(x, 1) for x in results['server'][n]]}")
    if args.json:
        args.json.write_text(json.dumps({"max_tokens": args.max_tokens, "rounds": args.rounds,
                                         "results": summary}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
