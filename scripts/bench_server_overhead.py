"""Aggregate tokens/s at 1 and 8 concurrent streams through the engine directly, through the HTTP server, and
through the Ollama layer in front of that server, in one run (the overhead checks of issues #2 and #7; not a test).

The server runs as a `frontier serve` child process and the layer as a `frontier proxy` child in front of it;
the direct measurement drives the same engine class in this process. All sides have the same settings and
prompts (exactly max-tokens new tokens: `ignore_eos`, which the layer passes as an Ollama option), and the
runs rotate (engine, server, layer, ...) so that drift on the machine hits all alike. Only one side generates
at a time.

    .venv/bin/python scripts/bench_server_overhead.py [--rounds 3] [--max-tokens 128] [--no-layer] [--json out.json]
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


async def layer_run(url: str, model: str, streams: int, max_tokens: int) -> tuple[int, float]:
    """Ollama `/api/chat` streams through the layer; tokens from each final line's eval_count."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        async def one(i: int) -> int:
            body = {"model": model, "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    "options": {"num_predict": max_tokens, "temperature": 0, "ignore_eos": True}}
            tokens = 0
            async with client.stream("POST", "/api/chat", json=body) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if line:
                        event = json.loads(line)
                        if event.get("done"):
                            tokens = event["eval_count"]
            return tokens

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(streams)))
        return sum(counts), time.perf_counter() - start


def start_child(command: str, env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **env}
    proc = subprocess.Popen([sys.executable, "-m", "frontier", command], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(health, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"frontier {command} did not become healthy")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--port", type=int, default=18089)
    ap.add_argument("--layer-port", type=int, default=18434)
    ap.add_argument("--no-layer", action="store_true", help="engine and server only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(REPO)
    settings = load_settings()
    engine = build_engine(settings)
    await engine.load()
    model = engine.models()[0].id
    url = f"http://127.0.0.1:{args.port}"
    layer_url = f"http://127.0.0.1:{args.layer_port}"
    children = [start_child("serve", {"MISTRAL_API_PORT": str(args.port), "MISTRAL_LOG_LEVEL": "warning"},
                            f"{url}/health")]
    sides = ["engine", "server"]
    if not args.no_layer:
        children.append(start_child("proxy", {"OLLAMA_API_PORT": str(args.layer_port), "FRONTIER_UPSTREAM_URL": url,
                                              "PROXY_LOG_LEVEL": "warning"}, f"{layer_url}/"))
        sides.append("layer")
    runs = {"engine": lambda n, t: engine_run(engine, model, n, t), "server": lambda n, t: http_run(url, model, n, t),
            "layer": lambda n, t: layer_run(layer_url, model, n, t)}
    levels = [int(x) for x in args.concurrency.split(",")]
    results: dict[str, dict[int, list[float]]] = {side: {n: [] for n in levels} for side in sides}
    try:
        for n in levels:  # warm-up, excluded
            for side in sides:
                await runs[side](n, 16)
        for r in range(args.rounds):
            for n in levels:
                # Rotate which side goes first: later runs in a round benefit from a warmer machine.
                for side in sides[r % len(sides):] + sides[:r % len(sides)]:
                    tok, secs = await runs[side](n, args.max_tokens)
                    results[side][n].append(tok / secs)
    finally:
        for child in children[::-1]:
            child.terminate()
            child.wait(30)
        await engine.close()
    summary = []
    loaded = [m.engine for m in engine.models() if m.loaded and m.id == model]
    print(f"engine: {loaded[0] if loaded else '?'}; medians of tok/s, each side against the engine; runs below")
    for n in levels:
        medians = {side: statistics.median(results[side][n]) for side in sides}
        row: dict[str, object] = {"streams": n}
        for side in sides:
            row[f"{side}_tok_s"] = round(medians[side], 1)
            row[f"{side}_runs"] = results[side][n]
            if side != "engine":
                row[f"{side}_ratio"] = round(medians[side] / medians["engine"], 3)
        summary.append(row)
        print(f"{n:>3} streams: " + ", ".join(
            f"{side} {medians[side]:.1f} ({medians[side] / medians['engine']:.1%})" for side in sides))
        for side in sides:
            print(f"{'':>13}{side} runs {[round(x, 1) for x in results[side][n]]}")
    if args.json:
        args.json.write_text(json.dumps({"max_tokens": args.max_tokens, "rounds": args.rounds,
                                         "results": summary}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
