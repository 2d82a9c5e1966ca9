"""The state folder of a backgrounded stack (FRONTIER_STATE_DIR, default `./.frontier`): one pid file and one
log file per service.

A pid file records the process's start time as well as its pid, so a pid the OS has since handed to an unrelated
process is recognised as stale instead of being signalled.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

# A start time is the kernel's boot time (/proc/stat btime, whole seconds, recomputed from the wall clock at each
# read) plus the process's start ticks: when the clock is adjusted, btime moves by a second and one process's
# two readings differ by it (a live server read as "stale" in a full test run). A reused pid starting within
# this window of the recorded start is not a real risk.
_CREATE_TIME_TOLERANCE_S = 2.0


@dataclass(frozen=True, slots=True)
class PidRecord:
    pid: int
    create_time: float  # psutil's process start time (epoch seconds)
    command: list[str]
    url: str


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def pid_file(self, service: str) -> Path:
        return self.root / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.root / f"{service}.log"

    def write(self, service: str, record: PidRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file(service).with_suffix(".pid.tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.pid_file(service))  # atomic: a concurrent `status` never reads half a file

    def read(self, service: str) -> PidRecord | None:
        """The recorded process, or None when there is no readable pid file."""
        path = self.pid_file(service)
        try:
            data = json.loads(path.read_text())
            return PidRecord(int(data["pid"]), float(data["create_time"]), list(data["command"]), str(data["url"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self, service: str) -> None:
        self.pid_file(service).unlink(missing_ok=True)


def process_of(record: PidRecord) -> psutil.Process | None:
    """The live process a pid record names, or None when it has exited (or the pid now belongs to another)."""
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > _CREATE_TIME_TOLERANCE_S:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def uptime_s(record: PidRecord) -> float:
    return max(0.0, time.time() - record.create_time)
