"""A real stack run the way a user runs it: `frontier start` (one process serving both APIs), queries through
both APIs, `status`, `kill -9` and recovery, `restart`, `logs`, a drained `stop`, and a taken port. Every command
is a child process with its own ports and state folder; the stack is stopped at the end whatever happens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from tests.conftest import DEFAULT_MODEL, MODELS, free_port

from frontier.service.state import PidRecord, StateDir, process_of
from frontier.service.supervisor import stop_service


@dataclass
class Stack:
    folder: Path
    env: dict[str, str]
    api: int
    ollama: int

    @property
    def state(self) -> StateDir:
        return StateDir(self.folder / "state")

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "frontier", *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def pid(self, name: str) -> int:
        record = self.state.read(name)
        assert record is not None, f"no pid file for {name}"
        return record.pid


def _kill_leftovers(state: StateDir) -> None:
    for name in ("server", "proxy"):
        record = state.read(name)
        if record and process_of(record):
            os.killpg(record.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    api, ollama = free_port(), free_port()
    env = {**os.environ, "MISTRAL_API_PORT": str(api), "OLLAMA_API_PORT": str(ollama),
           "MISTRAL_MODELS_PATH": str(MODELS), "FRONTIER_STATE_DIR": str(folder / "state")}
    s = Stack(folder, env, api, ollama)
    started = s.cli("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield s
    finally:
        s.cli("stop", "--drain-timeout", "15")
        _kill_leftovers(s.state)


def _chat(url: str, max_tokens: int = 8) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=120, json={
        "model": DEFAULT_MODEL, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Hi"}]})


def test_start_prints_the_urls_and_both_apis_answer(stack: Stack) -> None:
    server_log = stack.state.log_file("server").read_text()
    assert "loaded SmolLM2-135M-Instruct.Q4_1.gguf" in server_log
    assert _chat(f"http://127.0.0.1:{stack.api}").json()["usage"]["completion_tokens"] > 0
    reply = httpx.post(f"http://127.0.0.1:{stack.ollama}/api/chat", timeout=120, json={
        "model": "smollm2:135m", "stream": False, "messages": [{"role": "user", "content": "Hi"}],
        "options": {"num_predict": 8}}).json()
    assert reply["done"] is True and reply["message"]["role"] == "assistant"


def test_status_reports_both_apis_healthy_with_process_facts(stack: Stack) -> None:
    result = stack.cli("status")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(str(stack.pid("server"))) == 2  # both APIs, one process
    assert not stack.state.pid_file("proxy").exists()
    assert psutil.Process(stack.pid("server")).children() == []  # no second process serves the Ollama port
    assert DEFAULT_MODEL in result.stdout and "cpu" in result.stdout and "smollm2:135m" in result.stdout
    assert "all services healthy" in result.stdout


def test_start_on_a_running_stack_says_so_and_keeps_it(stack: Stack) -> None:
    before = stack.pid("server")
    result = stack.cli("start")
    assert result.returncode == 0
    assert f"already running (pid {before})" in result.stdout
    assert "the stack is already running" in result.stdout
    assert f"OpenAI-compatible API: http://127.0.0.1:{stack.api}/v1" in result.stdout
    assert f"Ollama-compatible API: http://127.0.0.1:{stack.ollama}" in result.stdout
    assert stack.pid("server") == before


def test_kill_9_shows_in_status_and_start_recovers(stack: Stack) -> None:
    old = stack.pid("server")
    os.killpg(old, signal.SIGKILL)
    psutil.Process(old).wait(timeout=30) if psutil.pid_exists(old) else None
    result = stack.cli("status")
    assert result.returncode == 1
    assert f"stale pid file (pid {old} is gone)" in result.stdout
    assert "not all services are healthy" in result.stdout
    result = stack.cli("start")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removed a stale pid file (pid {old} is gone)" in result.stdout
    assert stack.pid("server") != old
    assert stack.cli("status").returncode == 0
    assert _chat(f"http://127.0.0.1:{stack.api}").status_code == 200


def test_restart_replaces_the_process(stack: Stack) -> None:
    before = stack.pid("server")
    result = stack.cli("restart")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped (pid {before})" in result.stdout
    assert stack.pid("server") != before
    assert not (psutil.pid_exists(before) and psutil.Process(before).status() != psutil.STATUS_ZOMBIE)
    assert _chat(f"http://127.0.0.1:{stack.api}").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{stack.ollama}/api/tags", timeout=30).status_code == 200


def test_logs_show_the_process_log_and_refuse_an_unknown_one(stack: Stack) -> None:
    result = stack.cli("logs", "ollama", "-n", "200")
    assert result.returncode == 0 and "loaded SmolLM2" in result.stdout
    assert stack.cli("logs", "-n", "3").stdout.count("\n") == 3
    bad = stack.cli("logs", "engine")
    assert bad.returncode == 2 and "expected server or ollama" in bad.stderr


def test_a_taken_port_is_refused_with_its_holder_and_nothing_starts(stack: Stack, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**stack.env, "MISTRAL_API_PORT": str(port), "OLLAMA_API_PORT": str(free_port()),
               "FRONTIER_STATE_DIR": str(tmp_path / "state")}
        result = subprocess.run([sys.executable, "-m", "frontier", "start"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"MISTRAL_API_PORT={port} is taken on 127.0.0.1: held by pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "server.pid").exists() and not (tmp_path / "state" / "proxy.pid").exists()


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"MISTRAL_MODEL_ID": "absent.gguf"}, "unhealthy: 503: model 'absent.gguf' not found"),
        # A model over MISTRAL_MEMORY_LIMIT is refused at load with the reason, not left to the OOM killer.
        ({"MISTRAL_MEMORY_LIMIT": "50M", "MISTRAL_MEMORY_RESERVATION": "10M"}, "over MISTRAL_MEMORY_LIMIT=50M"),
    ],
)
def test_start_that_cannot_load_the_model_fails_fast_with_the_reason_and_leaves_nothing_running(
    stack: Stack, tmp_path: Path, setting: dict[str, str], reason: str
) -> None:
    env = {**stack.env, **setting, "MISTRAL_API_PORT": str(free_port()),
           "OLLAMA_API_PORT": str(free_port()), "FRONTIER_STATE_DIR": str(tmp_path / "state")}
    state = StateDir(tmp_path / "state")
    try:
        result = subprocess.run([sys.executable, "-m", "frontier", "start", "--timeout", "200"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=240)
        assert result.returncode == 1
        assert reason in result.stderr
        assert not state.pid_file("server").exists() and not state.pid_file("proxy").exists()
    finally:
        _kill_leftovers(state)


def test_stop_lets_an_in_flight_request_finish_then_frees_the_ports(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.api}"
    server_pid = stack.pid("server")
    body = {"model": DEFAULT_MODEL, "max_tokens": 16, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "Count."}]}
    outcomes: list[str] = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert '"delta"' in first
        # The stop's SIGTERM lands while this stream is mid-generation (stop_service is what `frontier stop`
        # runs; called here directly so the signal is not delayed by a CLI start-up).
        stopper = threading.Thread(target=lambda: outcomes.append(stop_service(stack.state, "server", 60)))
        stopper.start()
        rest = [line for line in lines if line.startswith("data: ")]
    stopper.join(timeout=90)
    assert rest[-1] == "data: [DONE]"
    usage = json.loads(rest[-2][len("data: "):])["usage"]
    assert usage["completion_tokens"] == 16  # finished, not cut off
    assert outcomes == [f"stopped (pid {server_pid})"]
    result = stack.cli("stop")
    assert result.returncode == 0, result.stdout
    assert "Frontier: not running" in result.stdout  # the one process is gone: both ports with it
    assert not stack.state.pid_file("server").exists()
    for port in (stack.api, stack.ollama):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert stack.cli("status").returncode == 1


def test_stop_kills_a_service_that_ignores_sigterm_after_the_drain_time(tmp_path: Path) -> None:
    # A real process that ignores SIGTERM stands in for a server stuck past its drain: uvicorn itself always
    # honours SIGTERM within its own bounded drain, so it cannot be made to show this.
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
             "time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        state = StateDir(tmp_path)
        state.write("server", PidRecord(proc.pid, psutil.Process(proc.pid).create_time(), [], "http://x"))
        outcome = stop_service(state, "server", drain_s=1)
        assert outcome == f"killed (did not stop within 1s of SIGTERM) (pid {proc.pid})"
        assert not psutil.pid_exists(proc.pid)  # gone (stop_service reaped it: it is this test's child)
        assert not state.pid_file("server").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_a_pid_file_naming_a_reused_pid_is_stale_not_signalled(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    # This test process's pid with a wrong start time: what a pid file looks like after the OS reused its pid.
    me = psutil.Process()
    state.write("server", PidRecord(me.pid, me.create_time() - 1000, [], "http://x"))
    assert stop_service(state, "server") == f"not running (removed a stale pid file for pid {me.pid})"
    assert not state.pid_file("server").exists()
    (tmp_path / "proxy.pid").write_text(json.dumps({"pid": "garbage"}))
    assert stop_service(state, "proxy") == "not running"


def test_logs_follow_prints_lines_as_they_are_written(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.root.mkdir()
    state.log_file("server").write_text("first line\n")
    env = {**os.environ, "FRONTIER_STATE_DIR": str(state.root)}
    proc = subprocess.Popen([sys.executable, "-m", "frontier", "logs", "-f", "server"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first line\n"
        with state.log_file("server").open("a") as log:
            log.write("written later\n")
        assert proc.stdout.readline() == "written later\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
