"""What `frontier status` reports per API: facts of the process serving it from its pid file, health from a real
request."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import psutil

from frontier.service.services import OLLAMA, Probe, ServiceSpec, probe
from frontier.service.state import StateDir, process_of, uptime_s


@dataclass(slots=True)
class ServiceStatus:
    spec: ServiceSpec
    running: bool
    pid: int | None
    uptime_s: float | None
    probe: Probe
    model: str = ""
    device: str = ""
    memory_bytes: int | None = None
    note: str = ""  # e.g. "stale pid file", "not started by frontier start"

    @property
    def healthy(self) -> bool:
        return self.probe.healthy


def _memory(proc: psutil.Process) -> int | None:
    """Resident memory of the service and anything it started."""
    try:
        return int(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _proxy_models(spec: ServiceSpec) -> str:
    try:
        body = httpx.get(spec.url + "/api/ps", headers=spec.headers, timeout=3).json()
        return ", ".join(str(m.get("name", "")) for m in body.get("models", []))
    except (httpx.HTTPError, ValueError, AttributeError):
        return ""


def service_status(spec: ServiceSpec, state: StateDir) -> ServiceStatus:
    record = state.read(spec.process)
    proc = process_of(record) if record else None
    health = probe(spec)
    status = ServiceStatus(spec, running=proc is not None, pid=record.pid if proc and record else None,
                           uptime_s=uptime_s(record) if proc and record else None, probe=health)
    if record and not proc:
        status.note = f"stale pid file (pid {record.pid} is gone)"
    elif not record and health.healthy:
        status.note = "answering, but not started by `frontier start` (no pid file)"
    if proc:
        status.memory_bytes = _memory(proc)
    if spec.name == OLLAMA:
        status.model = _proxy_models(spec) if health.healthy else ""
    else:
        status.model = ", ".join(str(m) for m in health.body.get("models", []))
        status.device = str(health.body.get("device", ""))
    return status


def stack_status(specs: list[ServiceSpec], state: StateDir) -> list[ServiceStatus]:
    return [service_status(spec, state) for spec in specs]


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
