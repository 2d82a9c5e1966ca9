"""The stack's two APIs, the one process that serves both (`frontier serve --ollama`, as `frontier run`), where
each listens, and how its health is asked."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from frontier.config import Settings
from frontier.security.auth import auth_headers

SERVER, OLLAMA = "server", "ollama"
PROCESS = "server"  # the pid and log file names of the one process
OLLAMA_ROOT_TEXT = "Ollama is running"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str  # "server" | "ollama": the API
    title: str
    command: list[str]
    host: str
    port: int
    port_variable: str
    health_path: str
    api_key: str = field(default="", repr=False)  # sent on every call the CLI makes (FRONTIER_API_KEY)
    process: str = PROCESS  # the process serving it: its pid and log file names

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)

    @property
    def url(self) -> str:
        # A wildcard bind is reached on loopback from this machine.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


@dataclass(slots=True)
class Probe:
    healthy: bool
    detail: str  # "ok", "503: model not loaded", "unreachable: ..."
    body: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0  # 0: no HTTP answer


def service_specs(settings: Settings, with_ollama: bool = True) -> list[ServiceSpec]:
    """The APIs, in start order; both come from one process (its command serves the Ollama port too)."""
    command = [sys.executable, "-m", "frontier", "serve", *(["--ollama"] if with_ollama else [])]
    specs = [
        ServiceSpec(SERVER, "OpenAI-compatible API", command, settings.mistral_host, settings.mistral_api_port,
                    "MISTRAL_API_PORT", "/health", settings.frontier_api_key),
    ]
    if with_ollama:
        specs.append(
            ServiceSpec(OLLAMA, "Ollama-compatible API", command, settings.ollama_api_host, settings.ollama_api_port,
                        "OLLAMA_API_PORT", "/", settings.frontier_api_key),
        )
    return specs


def processes(specs: list[ServiceSpec]) -> dict[str, ServiceSpec]:
    """Each process once, with the first API it serves (whose command starts it)."""
    out: dict[str, ServiceSpec] = {}
    for spec in specs:
        out.setdefault(spec.process, spec)
    return out


def probe(spec: ServiceSpec, timeout: float = 3.0) -> Probe:
    """A real request to the API's health endpoint: the OpenAI API's /health, the Ollama API's `/`."""
    try:
        response = httpx.get(spec.url + spec.health_path, headers=spec.headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Probe(False, f"unreachable ({type(exc).__name__})")
    if spec.name == OLLAMA:
        ok = response.status_code == 200 and response.text.strip() == OLLAMA_ROOT_TEXT
        return Probe(ok, "ok" if ok else f"{response.status_code}: not an Ollama API", {}, response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code == 200:
        return Probe(True, "ok", body, 200)
    reason = body.get("reason") or response.reason_phrase
    return Probe(False, f"{response.status_code}: {reason}", body, response.status_code)
