"""Starting services in the background and stopping them: each in its own process group (so a terminal's Ctrl-C
or hang-up does not reach it, and a stop reaches everything it started), with a pid file and a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psutil

from frontier.errors import FrontierError
from frontier.service.services import SERVER, Probe, ServiceSpec, probe
from frontier.service.state import PidRecord, StateDir, process_of

# The service drains in-flight requests for up to FRONTIER_DRAIN_SECONDS (default 30) on SIGTERM, then take
# a moment to shut down; a margin over the drain before SIGKILL lets a full drain finish.
DRAIN_MARGIN_S = 10.0
DEFAULT_DRAIN_S = 30.0 + DRAIN_MARGIN_S
_LOG_TAIL_CHARS = 3000


class StartError(FrontierError):
    """A service exited or stayed unhealthy while `frontier start` waited for it."""


@dataclass(slots=True)
class Launched:
    spec: ServiceSpec
    record: PidRecord
    popen: subprocess.Popen[bytes]


def running_record(state: StateDir, name: str) -> tuple[PidRecord | None, psutil.Process | None]:
    """The pid record and its live process; (record, None) means a stale pid file."""
    record = state.read(name)
    return record, (process_of(record) if record else None)


def launch(spec: ServiceSpec, state: StateDir) -> Launched:
    state.root.mkdir(parents=True, exist_ok=True)
    with state.log_file(spec.process).open("ab") as log:
        log.write(f"--- frontier start {datetime.now(UTC).isoformat(timespec='seconds')} ---\n".encode())
        log.flush()
        popen = subprocess.Popen(
            spec.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        created = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:  # died at once: the wait loop reports it with its log
        created = time.time()
    record = PidRecord(popen.pid, created, spec.command, spec.url)
    state.write(spec.process, record)
    return Launched(spec, record, popen)


def log_tail(state: StateDir, name: str, chars: int = _LOG_TAIL_CHARS) -> str:
    try:
        return state.log_file(name).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_healthy(
    launched: list[Launched],
    specs: list[ServiceSpec],
    state: StateDir,
    timeout_s: float,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Probe]:
    """Polls every API's health until all answer healthy; a started process exiting or the deadline passing
    raises StartError with its log tail. Bounded by `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    probes: dict[str, Probe] = {}
    while True:
        for item in launched:
            code = item.popen.poll()
            if code is not None:
                raise StartError(
                    f"{item.spec.title} exited with code {code} while starting; its log "
                    f"({state.log_file(item.spec.process)}) ends:\n{log_tail(state, item.spec.process)}"
                )
        probes = {spec.name: probe(spec, timeout=2.0) for spec in specs}
        started = {item.spec.process for item in launched}
        for spec in specs:
            answer = probes[spec.name]
            # The server only listens once its model load has ended, so an answer other than 200 is final
            # (a failed load: missing, damaged or over MISTRAL_MEMORY_LIMIT) and waiting longer cannot help.
            if spec.process in started and spec.name == SERVER and answer.status_code not in (0, 200):
                raise StartError(f"{spec.title} is up but unhealthy: {answer.detail}")
        waiting = [spec for spec in specs if not probes[spec.name].healthy]
        if not waiting:
            return probes
        progress(", ".join(f"{spec.title}: {probes[spec.name].detail}" for spec in waiting))
        if time.monotonic() >= deadline:
            spec = waiting[0]
            raise StartError(
                f"{spec.title} not healthy after {timeout_s:.0f}s ({probes[spec.name].detail}); its log "
                f"({state.log_file(spec.process)}) ends:\n{log_tail(state, spec.process)}"
            )
        time.sleep(0.5)


def _signal_group(pid: int, sig: int) -> None:
    """Signals the service's process group (it leads its own: start_new_session), else just the process."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_service(state: StateDir, name: str, drain_s: float = DEFAULT_DRAIN_S) -> str:
    """SIGTERM, wait up to `drain_s` for in-flight requests to finish, then SIGKILL. Returns what happened."""
    record, proc = running_record(state, name)
    if record is None:
        return "not running"
    if proc is None:
        state.remove(name)
        return f"not running (removed a stale pid file for pid {record.pid})"
    _signal_group(record.pid, signal.SIGTERM)
    outcome = "stopped"
    try:
        proc.wait(timeout=drain_s)
    except psutil.TimeoutExpired:
        _signal_group(record.pid, signal.SIGKILL)
        outcome = f"killed (did not stop within {drain_s:.0f}s of SIGTERM)"
        try:
            proc.wait(timeout=10)
        except psutil.TimeoutExpired:
            return f"still running after SIGKILL (pid {record.pid})"
    state.remove(name)
    return f"{outcome} (pid {record.pid})"
