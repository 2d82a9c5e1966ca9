"""The two services of the stack, what starts each, where it listens, and how its health is asked."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from frontier.config import Settings
from frontier.security.auth import auth_headers

SERVER, PROXY = "server", "proxy"
OLLAMA_ROOT_TEXT = "Ollama is running"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str  # "server" | "proxy": the pid/log file names and the `frontier logs` argument
    title: str
    command: list[str]
    host: str
    port: int
    port_variable: str
    health_path: str
    api_key: str = field(default="", repr=False)  # sent on every call the CLI makes (FRONTIER_API_KEY)

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


def service_specs(settings: Settings, with_proxy: bool = True) -> list[ServiceSpec]:
    specs = [
        ServiceSpec(SERVER, "OpenAI-compatible server", [sys.executable, "-m", "frontier", "serve"],
                    settings.mistral_host, settings.mistral_api_port, "MISTRAL_API_PORT", "/health",
                    settings.frontier_api_key),
    ]
    if with_proxy:
        specs.append(
            ServiceSpec(PROXY, "Ollama-compatible API", [sys.executable, "-m", "frontier", "proxy"],
                        settings.ollama_api_host, settings.ollama_api_port, "OLLAMA_API_PORT", "/",
                        settings.frontier_api_key),
        )
    return specs


def probe(spec: ServiceSpec, timeout: float = 3.0) -> Probe:
    """A real request to the service's health endpoint: the server's /health, the Ollama API's `/`."""
    try:
        response = httpx.get(spec.url + spec.health_path, headers=spec.headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Probe(False, f"unreachable ({type(exc).__name__})")
    if spec.name == PROXY:
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
