"""A real Prometheus server on loopback for tests, fed the repo's scrape config with live targets."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import REPO, free_port, stop_process

MONITORING = REPO / "deploy" / "monitoring"


FETCHED = REPO / ".cache" / "tools" / "prometheus" / "usr" / "bin"  # where scripts/fetch-prometheus.sh unpacks


def require_tool(name: str) -> str:
    """Prometheus's binaries (on PATH, or fetched by `make test`), or a failure that says how to get them."""
    path = shutil.which(name) or shutil.which(name, path=str(FETCHED))
    if path is None:
        pytest.fail(f"{name} not found: run scripts/fetch-prometheus.sh (`make test` does), or install the Debian "
                    "package `prometheus`")
    return path


def live_config(targets: dict[str, str], rules: Path, interval: str = "1s") -> dict[str, Any]:
    """The repo's prometheus.yml with only the targets (job -> host:port), the rule file path and the
    intervals changed."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(rules)]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [targets[job["job_name"]]]
    return config


class Prometheus:
    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_path = folder / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log_path = folder / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [require_tool("prometheus"), f"--config.file={config_path}",
                 f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def api(self, path: str, **params: str) -> Any:
        body = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def scalar(self, query: str) -> float | None:
        """The value of a query that yields at most one series; None while it yields none."""
        result = self.api("query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, query: str, expected: float | None, timeout: float = 45) -> float | None:
        """Polls until the query yields `expected`; returns the last value seen (for the assertion)."""
        deadline = time.monotonic() + timeout
        seen = self.scalar(query)
        while seen != expected and time.monotonic() < deadline:
            time.sleep(0.5)
            seen = self.scalar(query)
        return seen

    def stop(self) -> None:
        stop_process(self.proc)
