"""The live stack for the metrics tests (the real server and the real `frontier proxy`, both child processes
logging JSON) and helpers that read their /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import ServerProcess, free_port, stop_process

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class ProxyProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.log_path)

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Stack:
    server: ServerProcess
    proxy: ProxyProcess

    def server_log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.server.log_path)


def access_lines(
    read: Callable[[], list[dict[str, Any]]], request_id: str, route: str | None = None, within: float = 10.0
) -> list[dict[str, Any]]:
    """The access lines of `request_id` (on `route`), waiting for the first: a process writes its access line
    just after its answer has gone, so the line can lag the response a test already holds."""
    deadline = time.monotonic() + within
    while True:
        found = [line for line in read() if line.get("logger") == "frontier.access"
                 and line.get("request_id") == request_id and route in (None, line.get("route"))]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a child (start-up reports and engine output are plain text: skipped)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def start_proxy(upstream: str, folder: Path) -> ProxyProcess:
    port = free_port()
    env = {**os.environ, "OLLAMA_API_PORT": str(port), "FRONTIER_UPSTREAM_URL": upstream,
           "FRONTIER_LOG_FORMAT": "json", "PROXY_LOG_LEVEL": "info"}
    log_path = folder / "proxy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "frontier", "proxy"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=folder)
    proxy = ProxyProcess(f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited {proc.returncode}: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{proxy.url}/api/version", timeout=2).status_code == 200:
                return proxy
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proxy.stop()
    raise RuntimeError(f"proxy not up in 60s: {log_path.read_text()[-3000:]}")


def scrape(base_url: str) -> Samples:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when none exists yet)."""
    want = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and want <= lbls)


def exported_names(base_url: str) -> set[str]:
    """Every series name a service can export, including families with no samples yet."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        names.update(s.name for s in family.samples)
    return names
