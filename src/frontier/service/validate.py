"""`frontier validate-config`: every check that can tell before start-up that the stack will not come up (or not
as configured), each with a concrete fix. The checks are functions of what they inspect, so tests feed them
configurations directly."""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
from dotenv import dotenv_values

from frontier.config import Settings, load_settings, parse_size
from frontier.engine.device import Hardware, choose_device
from frontier.errors import ConfigError
from frontier.models.catalog import load_catalog
from frontier.models.common import human_size
from frontier.models.registry import describe
from frontier.service.ports import port_free, port_owner
from frontier.service.services import ServiceSpec, service_specs
from frontier.service.state import StateDir, process_of

Level = Literal["ok", "warning", "error"]
_OUR_PREFIXES = ("MISTRAL_", "OLLAMA_API_", "FRONTIER_", "PROXY_", "ENABLE_")
MIN_FREE_DISK = 2 * 1024**3  # room for logs and one small model download


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    topic: str
    message: str
    fix: str = ""


def check_env_file(env_file: Path) -> list[Finding]:
    """The .env file: present or not, and variables in it that Frontier does not know (typos are silent
    otherwise: a misspelt variable simply leaves the default in force)."""
    if not env_file.is_file():
        return [Finding("ok", ".env", f"no {env_file} file: defaults and the environment apply",
                        "cp .env.example .env to change settings")]
    known = {name.upper() for name in Settings.model_fields}
    findings = [Finding("ok", ".env", f"reading {env_file}")]
    for name, value in dotenv_values(env_file).items():
        if value is None:
            findings.append(Finding("warning", ".env", f"line {name!r} has no '=': ignored", "write NAME=value"))
        elif name.upper().startswith(_OUR_PREFIXES) and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else "see .env.example for every variable"
            findings.append(Finding("warning", ".env", f"unknown variable {name}: it has no effect", hint))
    return findings


def check_device(settings: Settings, hw: Hardware) -> list[Finding]:
    choice = choose_device(settings, hw)
    builds = ", ".join(sorted(hw.engine_builds))
    findings = [Finding("ok", "device", f"{hw.system} {hw.machine}; engine builds: {builds}; "
                        f"will run on {choice.device} ({choice.reason})")]
    findings += [Finding("warning", "device", w, "set MISTRAL_DEVICE=cpu to silence this") for w in choice.warnings]
    return findings


def check_model(settings: Settings) -> tuple[list[Finding], int]:
    """The configured model is present and readable; returns its size in bytes (0 when unknown)."""
    path = settings.model_path()
    if not path.exists():
        in_catalog = load_catalog().by_filename(path.name)
        fix = ("`frontier models fetch-default` downloads it (it is in the catalog as "
               f"{in_catalog.entry.name})" if in_catalog else
               "download it with `frontier models download <catalog-name | hf-owner/repo/file>`, or set "
               "MISTRAL_MODEL_ID to a model that `frontier models check` lists")
        return [Finding("error", "model", f"MISTRAL_MODEL_ID={settings.mistral_model_id} not found at {path}",
                        fix)], 0
    entry = describe(path)
    if not entry.ok or entry.meta is None:
        return [Finding("error", "model", f"{path}: {entry.problem}",
                        "download it again (`frontier models download ...` resumes and verifies)")], 0
    meta = entry.meta
    details = ", ".join(x for x in (meta.architecture, meta.quantization, human_size(meta.size_bytes)) if x)
    return [Finding("ok", "model", f"{settings.mistral_model_type} model {path.name} ({details})")], meta.size_bytes


def check_memory(settings: Settings, model_bytes: int, total: int, available: int) -> list[Finding]:
    limit = settings.memory_limit_bytes
    reservation = parse_size(settings.mistral_memory_reservation)
    findings: list[Finding] = []
    if reservation > limit:
        findings.append(Finding(
            "error", "memory", f"MISTRAL_MEMORY_RESERVATION={settings.mistral_memory_reservation} is over "
            f"MISTRAL_MEMORY_LIMIT={settings.mistral_memory_limit} (Docker refuses such a container)",
            "make the reservation smaller than the limit"))
    if model_bytes > limit:
        findings.append(Finding(
            "error", "memory", f"the model needs at least {human_size(model_bytes)}, over "
            f"MISTRAL_MEMORY_LIMIT={settings.mistral_memory_limit}: the server will refuse to load it",
            "raise MISTRAL_MEMORY_LIMIT or choose a smaller quantization (`frontier models list-available`)"))
    if limit > total:
        findings.append(Finding(
            "warning", "memory", f"MISTRAL_MEMORY_LIMIT={settings.mistral_memory_limit} is more than this "
            f"machine's {human_size(total)} of RAM: the limit cannot protect it",
            f"set MISTRAL_MEMORY_LIMIT to at most {total // 1024**3}G"))
    if model_bytes > available:
        findings.append(Finding(
            "warning", "memory", f"the model ({human_size(model_bytes)}) is larger than the memory available "
            f"now ({human_size(available)}): loading may swap or be killed by the OS",
            "close other programs or choose a smaller quantization"))
    if not findings:
        findings.append(Finding("ok", "memory", f"model {human_size(model_bytes)}, limit "
                                f"{settings.mistral_memory_limit}, available {human_size(available)}"))
    return findings


def check_disk(folder: Path, free_bytes: int | None = None) -> list[Finding]:
    probe = folder if folder.exists() else Path.cwd()
    free = shutil.disk_usage(probe).free if free_bytes is None else free_bytes
    if free < MIN_FREE_DISK:
        return [Finding("warning", "disk", f"only {human_size(free)} free where models live ({probe})",
                        "free some space before downloading models")]
    return [Finding("ok", "disk", f"{human_size(free)} free in {probe}")]


def check_ports(specs: list[ServiceSpec], state: StateDir) -> list[Finding]:
    findings: list[Finding] = []
    if len({spec.port for spec in specs}) < len(specs):
        findings.append(Finding("error", "ports", "MISTRAL_API_PORT and OLLAMA_API_PORT are the same port",
                                "give the Ollama API its own port (11434 by default)"))
        return findings
    for spec in specs:
        record = state.read(spec.process)
        if record and process_of(record):
            findings.append(Finding("ok", "ports", f"{spec.port_variable}={spec.port}: in use by the running "
                                    f"{spec.title} (pid {record.pid})"))
        elif port_free(spec.host, spec.port):
            findings.append(Finding("ok", "ports", f"{spec.port_variable}={spec.port} is free on {spec.host}"))
        else:
            owner = port_owner(spec.port)
            findings.append(Finding("error", "ports", f"{spec.port_variable}={spec.port} is taken on {spec.host} "
                                    f"by {owner.describe()}",
                                    f"stop that process or set {spec.port_variable} to a free port"))
    return findings


def check_network(settings: Settings) -> list[Finding]:
    findings = []
    for variable, host in (("MISTRAL_HOST", settings.mistral_host), ("OLLAMA_API_HOST", settings.ollama_api_host)):
        if host not in ("127.0.0.1", "localhost", "::1"):
            findings.append(Finding("warning", "network", f"{variable}={host}: reachable from other hosts, and "
                                    "the APIs have no authentication", f"{variable}=127.0.0.1 unless you mean it"))
    if settings.upstream_url.endswith(f":{settings.ollama_api_port}"):
        findings.append(Finding("error", "network", f"FRONTIER_UPSTREAM_URL={settings.upstream_url} points the "
                                "Ollama API at itself", "leave FRONTIER_UPSTREAM_URL unset (the local server)"))
    return findings


def validate(env_file: Path, hw_detect: Callable[[], Hardware], state_dir: Path | None = None) -> list[Finding]:
    findings = check_env_file(env_file)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return [*findings, Finding("error", "settings", str(exc), "fix the values named above (.env.example "
                                   "documents each variable)")]
    findings.append(Finding("ok", "settings", "every variable is valid"))
    findings += check_device(settings, hw_detect())
    model_findings, model_bytes = check_model(settings)
    findings += model_findings
    memory = psutil.virtual_memory()
    findings += check_memory(settings, model_bytes, memory.total, memory.available)
    findings += check_disk(settings.mistral_models_path)
    findings += check_ports(service_specs(settings), StateDir(state_dir or settings.frontier_state_dir))
    findings += check_network(settings)
    return findings
