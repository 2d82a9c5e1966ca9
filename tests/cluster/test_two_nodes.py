"""Two Ray nodes on one machine, the worker in a network namespace of its own (a veth pair between them, as two
machines on a LAN), each running one engine replica. Killing every process of the worker node (`kill -9`, the
machine gone) loses no request: the head's replica takes them. Needs root (network namespaces)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.cluster.request_loop import RequestLoop
from tests.conftest import MODELS, free_port

pytest.importorskip("ray.serve", reason="the cluster extra (ray[serve])")
if os.geteuid() != 0:
    pytest.skip("network namespaces need root", allow_module_level=True)


NS, HEAD_IP, WORKER_IP = "frontier-worker", "10.231.0.1", "10.231.0.2"
RAY = str(Path(sys.executable).parent / "ray")


def sh(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check)


def namespace_pids() -> list[int]:
    out = sh("ip", "netns", "pids", NS, check=False).stdout.split()
    return [int(pid) for pid in out]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "link", "del", "fr-head", check=False)
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", "fr-head", "type", "veth", "peer", "name", "fr-worker")
    sh("ip", "link", "set", "fr-worker", "netns", NS)
    sh("ip", "addr", "add", f"{HEAD_IP}/24", "dev", "fr-head")
    sh("ip", "link", "set", "fr-head", "up")
    sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{WORKER_IP}/24", "dev", "fr-worker")
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "fr-worker", "up")
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
    gcs, port = free_port(), free_port()
    env = {**os.environ, "MISTRAL_MODELS_PATH": str(MODELS), "MISTRAL_KV_LAYOUT": "unified",
           "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0",
           "FRONTIER_STATE_DIR": str(tmp_path_factory.mktemp("two-nodes")), "MISTRAL_HOST": HEAD_IP,
           "HOME": str(tmp_path_factory.mktemp("home"))}  # the token `up` makes, which the worker then joins with
    frontier = [sys.executable, "-m", "frontier", "cluster"]
    try:
        up = subprocess.run([*frontier, "up", "--port", str(gcs), "--cpus", "1", "--host", HEAD_IP], env=env,
                            capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        joined = subprocess.run(["ip", "netns", "exec", NS, RAY, "start", "--address", f"{HEAD_IP}:{gcs}",
                                 "--node-ip-address", WORKER_IP, "--num-cpus", "1", "--disable-usage-stats"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        deployed = subprocess.run([*frontier, "deploy", "--replicas", "2", "--threads", "1", "--port", str(port),
                                   "--address", f"{HEAD_IP}:{gcs}"], env=env, capture_output=True, text=True,
                                  timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        url = f"http://{HEAD_IP}:{port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the two-node application never became healthy"
            time.sleep(1)
        yield url
    finally:
        for pid in namespace_pids():
            os.kill(pid, signal.SIGKILL)
        subprocess.run([*frontier, "down"], env=env, capture_output=True, timeout=120)
        sh("ip", "netns", "del", NS, check=False)
        sh("ip", "link", "del", "fr-head", check=False)


def test_the_cluster_survives_the_loss_of_its_worker_node(two_nodes: str) -> None:
    # One replica per node (each node offers one CPU, each replica takes one).
    assert any("ServeReplica:frontier:FrontierEngine" in " ".join(_cmdline(pid)) for pid in namespace_pids())
    with RequestLoop(two_nodes) as load:
        outcomes = load.outcomes
        _wait(lambda: len(outcomes) >= 6, 120)
        for pid in namespace_pids():  # the worker machine is gone: every process of it at once
            os.kill(pid, signal.SIGKILL)
        lost_at, killed = len(outcomes), time.monotonic()
        _wait(lambda: len(outcomes) >= lost_at + 12, 150,
              lambda: f"{len(outcomes) - lost_at} answers {time.monotonic() - killed:.0f}s on: {outcomes[lost_at:]}")
    assert namespace_pids() == []
    assert load.failures() == []


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def _wait(check: object, within: float, say: object = None) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within}s" + (f": {say()}" if say else "")  # type: ignore[operator]
        time.sleep(0.5)
