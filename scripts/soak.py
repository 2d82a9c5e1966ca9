"""Soak: N concurrent streaming clients against a running stack, and what the two services hold afterwards.

    .venv/bin/frontier run &                       # or: frontier serve & frontier proxy &
    .venv/bin/python scripts/soak.py               # 32 clients, 300 s, against 127.0.0.1:8080 and :11434
    .venv/bin/python scripts/soak.py --clients 8 --duration 20 --json soak.json

Half the clients stream chat completions with the OpenAI SDK from the server (8080), half stream chats with the
`ollama` client from the Ollama layer (11434); each sends its next request when the last one ends. A stream
counts as complete when it ends the way its API says a finished answer ends (OpenAI: a finish_reason, then the
usage chunk; Ollama: one `done: true` line with a `done_reason`).

Resources of both service processes (found by their listening ports, or --server-pid / --proxy-pid): RSS, threads
and open file descriptors, taken idle after a warm-up (one round of every client) and idle again after the run.
Exits 1 on any error, any incomplete stream, RSS growth over --max-rss-growth-mb, or threads / fds above their
start plus slack; the numbers are printed, and written as JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import psutil

import ollama
import openai
from frontier.service.ports import port_owner

PROMPTS = ("Name three colours.", "Count to five.", "Say hello in French.", "What is a cat?")


@dataclass
class Resources:
    rss_mb: float
    threads: int
    fds: int

    @classmethod
    def of(cls, pid: int) -> Resources:
        proc = psutil.Process(pid)
        return cls(round(proc.memory_info().rss / 2**20, 1), proc.num_threads(), proc.num_fds())


@dataclass
class Tally:
    requests: int = 0
    completed: int = 0
    incomplete: int = 0
    errors: int = 0
    tokens: int = 0
    error_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def summary(self) -> dict[str, Any]:
        """The counts as plain data (asdict would try to copy the lock)."""
        return {"requests": self.requests, "completed": self.completed, "incomplete": self.incomplete,
                "errors": self.errors, "tokens": self.tokens, "error_samples": list(self.error_samples)}

    def add(self, complete: bool, tokens: int, error: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            self.tokens += tokens
            if error is not None:
                self.errors += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(error[:300])
            elif complete:
                self.completed += 1
            else:
                self.incomplete += 1


def openai_stream(client: openai.OpenAI, model: str, prompt: str, max_tokens: int) -> tuple[bool, int]:
    finished, usage, chunks = False, None, 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].finish_reason:
            finished = True
        if chunk.usage is not None:
            usage = chunk.usage
    tokens = usage.completion_tokens if usage else 0
    return finished and usage is not None and chunks > 1, tokens


def ollama_stream(client: ollama.Client, model: str, prompt: str, max_tokens: int) -> tuple[bool, int]:
    done_lines, last = 0, None
    for part in client.chat(model=model, messages=[{"role": "user", "content": prompt}], stream=True,
                            options={"num_predict": max_tokens}):
        done_lines += bool(part.done)
        last = part
    complete = last is not None and last.done and done_lines == 1 and bool(last.done_reason)
    return complete, int(last.eval_count or 0) if last is not None else 0


def client_loop(send: Callable[[str], tuple[bool, int]], tally: Tally, deadline: float, index: int) -> None:
    turn = 0
    while time.monotonic() < deadline:
        prompt = PROMPTS[(index + turn) % len(PROMPTS)]
        turn += 1
        try:
            complete, tokens = send(prompt)
        except Exception as exc:  # every failure is counted and reported, whatever raised it
            tally.add(False, 0, f"{type(exc).__name__}: {exc}")
            continue
        tally.add(complete, tokens)


def run_clients(args: argparse.Namespace, deadline: float | None, tallies: dict[str, Tally]) -> None:
    """`args.clients` threads, alternating APIs; with deadline None, one request each (the warm-up)."""
    # A plain number: openai >= 3.63 builds on httpx2 and refuses an httpx.Timeout object.
    timeout = float(args.request_timeout)
    senders: list[tuple[str, Callable[[str], tuple[bool, int]]]] = []
    for index in range(args.clients):
        if index % 2 == 0:
            oa = openai.OpenAI(base_url=f"{args.openai_url}/v1", api_key="soak", timeout=timeout, max_retries=0)
            senders.append(("openai", lambda p, c=oa: openai_stream(c, args.openai_model, p, args.max_tokens)))
        else:
            ol = ollama.Client(host=args.ollama_url, timeout=args.request_timeout)
            senders.append(("ollama", lambda p, c=ol: ollama_stream(c, args.ollama_model, p, args.max_tokens)))
    threads = []
    for index, (api, send) in enumerate(senders):
        # A warm-up runs one request per client: a deadline already past still lets the loop body run once.
        end = deadline if deadline is not None else 0.0
        target = client_loop if deadline is not None else _once
        thread = threading.Thread(target=target, args=(send, tallies[api], end, index), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


def _once(send: Callable[[str], tuple[bool, int]], tally: Tally, _deadline: float, index: int) -> None:
    try:
        complete, tokens = send(PROMPTS[index % len(PROMPTS)])
    except Exception as exc:  # counted like any other failure
        tally.add(False, 0, f"{type(exc).__name__}: {exc}")
        return
    tally.add(complete, tokens)


def service_pid(explicit: int | None, url: str) -> int:
    if explicit:
        return explicit
    port = httpx.URL(url).port
    owner = port_owner(port or 0)
    if owner.pid is None:
        raise SystemExit(f"no process found listening on {url}; pass its pid (--server-pid / --proxy-pid)")
    return owner.pid


def wait_idle(openai_url: str, limit: float = 30.0) -> None:
    """Until the server reports nothing in flight or queued (the streams' last bytes may trail the clients)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        health = httpx.get(f"{openai_url}/health", timeout=10).json()
        if not health.get("in_flight") and not health.get("queued"):
            break
        time.sleep(0.5)
    time.sleep(2.0)  # connections closing, pooled sockets expiring


def verdict(report: dict[str, Any], args: argparse.Namespace) -> list[str]:
    problems = []
    for api, tally in report["clients"].items():
        if tally["errors"]:
            problems.append(f"{api}: {tally['errors']} error(s): {tally['error_samples']}")
        if tally["incomplete"]:
            problems.append(f"{api}: {tally['incomplete']} incomplete stream(s)")
        if not tally["completed"]:
            problems.append(f"{api}: no request completed")
    for name, res in report["services"].items():
        start, end = res["start"], res["end"]
        if end["rss_mb"] - start["rss_mb"] > args.max_rss_growth_mb:
            problems.append(f"{name}: RSS grew {end['rss_mb'] - start['rss_mb']:.1f} MB "
                            f"(limit {args.max_rss_growth_mb} MB)")
        if end["threads"] > start["threads"] + args.thread_slack:
            problems.append(f"{name}: threads {start['threads']} -> {end['threads']}")
        if end["fds"] > start["fds"] + args.fd_slack:
            problems.append(f"{name}: open fds {start['fds']} -> {end['fds']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openai-url", default="http://127.0.0.1:8080")
    parser.add_argument("--ollama-url", default="http://127.0.0.1:11434")
    parser.add_argument("--openai-model", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--ollama-model", default="smollm2:135m")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--max-tokens", type=int, default=24, help="tokens per answer at most")
    parser.add_argument("--request-timeout", type=float, default=300.0)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--proxy-pid", type=int)
    parser.add_argument("--max-rss-growth-mb", type=float, default=150.0)
    parser.add_argument("--thread-slack", type=int, default=4)
    parser.add_argument("--fd-slack", type=int, default=8)
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args(argv)

    pids = {"server": service_pid(args.server_pid, args.openai_url),
            "proxy": service_pid(args.proxy_pid, args.ollama_url)}
    warmup = {"openai": Tally(), "ollama": Tally()}
    run_clients(args, None, warmup)  # first loads, caches and pools are not growth
    wait_idle(args.openai_url)
    start = {name: Resources.of(pid) for name, pid in pids.items()}
    tallies = {"openai": Tally(), "ollama": Tally()}
    began = time.monotonic()
    run_clients(args, began + args.duration, tallies)
    elapsed = time.monotonic() - began
    wait_idle(args.openai_url)
    end = {name: Resources.of(pid) for name, pid in pids.items()}

    clients = {api: t.summary() for api, t in tallies.items()}
    for api, t in warmup.items():  # warm-up failures count too
        clients[api]["errors"] += t.errors
        clients[api]["incomplete"] += t.incomplete
        clients[api]["error_samples"] += t.error_samples
    report = {
        "command": " ".join(sys.argv),
        "clients_total": args.clients, "duration_s": round(elapsed, 1), "max_tokens": args.max_tokens,
        "clients": clients,
        "services": {name: {"pid": pids[name], "start": asdict(start[name]), "end": asdict(end[name])}
                     for name in pids},
    }
    report["problems"] = verdict(report, args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
