"""`frontier start | stop | restart | status | logs | validate-config` (owned by the service capability)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontier.cli.settings import settings_or_exit
from frontier.config import Settings
from frontier.engine.device import detect_hardware
from frontier.models.common import human_size
from frontier.service import docker
from frontier.service.ports import conflict_message, port_free, port_owner
from frontier.service.services import OLLAMA, PROCESS, SERVER, ServiceSpec, processes, service_specs
from frontier.service.state import StateDir
from frontier.service.status import format_uptime, stack_status
from frontier.service.supervisor import (
    DRAIN_MARGIN_S,
    Launched,
    StartError,
    launch,
    running_record,
    stop_service,
    wait_healthy,
)
from frontier.service.validate import validate

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

_DOCKER = typer.Option(False, "--docker", help="Run the stack with Docker Compose instead of local processes.")
_CUDA = typer.Option(None, "--cuda/--no-cuda", help="With --docker: add the CUDA override [default: when an "
                     "NVIDIA GPU is present].")
_DRY_RUN = typer.Option(False, "--dry-run", help="With --docker: print the docker compose command, run nothing.")
_NO_OLLAMA = typer.Option(False, "--no-ollama", help="Only the OpenAI-compatible API.")
_NO_PROXY = typer.Option(False, "--no-proxy", hidden=True, help="The old name of --no-ollama.")
_TIMEOUT = typer.Option(300.0, "--timeout", help="Seconds to wait for the services to become healthy.")
_DRAIN = typer.Option(None, "--drain-timeout", help="Seconds in-flight requests get after SIGTERM before SIGKILL "
                      f"[default: FRONTIER_DRAIN_SECONDS + {DRAIN_MARGIN_S:.0f}].")
_ENV_FILE = typer.Option(".env", "--env-file", help="The .env file to check for unknown variables.")


def _print_urls(specs: list[ServiceSpec]) -> None:
    for spec in specs:
        if spec.name == SERVER:
            out.print(f"OpenAI-compatible API: {spec.url}/v1  (health: {spec.url}/health)")
        else:
            out.print(f"Ollama-compatible API: {spec.url}")


def _run_docker(action: str, settings: Settings, cuda: bool | None, dry_run: bool) -> None:
    wanted, why = docker.use_cuda(settings, detect_hardware(), cuda)
    command = docker.up_command(wanted) if action == "up" else docker.down_command(wanted)
    err.print(f"CUDA override: {'yes' if wanted else 'no'} ({why})")
    out.print(" ".join(command))
    if dry_run:
        return
    if not Path(docker.COMPOSE_FILE).is_file():
        err.print(f"[red]error[/red]: no {docker.COMPOSE_FILE} here: run this in the Frontier checkout")
        raise typer.Exit(1)
    if shutil.which(command[0]) is None:
        err.print("[red]error[/red]: `docker` is not installed or not on PATH (Docker Engine with the compose "
                  "plugin is needed for --docker; without it use `frontier start`)")
        raise typer.Exit(1)
    raise typer.Exit(subprocess.run(command, check=False).returncode)


def start(docker_: bool = _DOCKER, cuda: bool | None = _CUDA, dry_run: bool = _DRY_RUN, no_ollama: bool = _NO_OLLAMA,
          timeout: float = _TIMEOUT, no_proxy: bool = _NO_PROXY) -> None:
    """Start the stack (one process serving both APIs) in the background and wait until both are healthy."""
    settings = settings_or_exit()
    if docker_:
        _run_docker("up", settings, cuda, dry_run)
        return
    state = StateDir(settings.frontier_state_dir)
    specs = service_specs(settings, with_ollama=not (no_ollama or no_proxy))
    to_start = []
    for name, spec in processes(specs).items():
        record, proc = running_record(state, name)
        if proc is not None and record is not None:
            out.print(f"Frontier is already running (pid {record.pid})")
            continue
        if record is not None:
            state.remove(name)
            out.print(f"removed a stale pid file (pid {record.pid} is gone)")
        to_start.append(spec)
    starting = {spec.process for spec in to_start}
    conflicts = [spec for spec in specs if spec.process in starting and not port_free(spec.host, spec.port)]
    for spec in conflicts:
        message = conflict_message(spec.port_variable, spec.host, spec.port, port_owner(spec.port))
        err.print(f"[red]error[/red]: {escape(message)}")
    if conflicts:
        raise typer.Exit(1)
    launched = [launch(spec, state) for spec in to_start]
    try:
        with err.status("starting ...") as spinner:
            wait_healthy(launched, specs, state, timeout, progress=lambda msg: spinner.update(f"waiting: {msg}"))
    except (StartError, KeyboardInterrupt) as exc:
        # A half-started stack would mislead clients: stop what this command started.
        _stop_launched(launched, state)
        err.print(f"[red]error[/red]: {escape(str(exc) or 'interrupted')}")
        raise typer.Exit(1) from None
    out.print("the stack is running" if launched else "the stack is already running")
    _print_urls(specs)


def _stop_launched(launched: list[Launched], state: StateDir) -> None:
    for item in reversed(launched):
        stop_service(state, item.spec.process, drain_s=10)


def stop(docker_: bool = _DOCKER, cuda: bool | None = _CUDA, dry_run: bool = _DRY_RUN,
         drain_timeout: float | None = _DRAIN) -> None:
    """Stop the stack gracefully: SIGTERM, a bounded drain of in-flight requests, then SIGKILL."""
    settings = settings_or_exit()
    if drain_timeout is None:  # the services drain for FRONTIER_DRAIN_SECONDS, then need a moment to exit
        drain_timeout = settings.frontier_drain_seconds + DRAIN_MARGIN_S
    if docker_:
        _run_docker("down", settings, cuda, dry_run)
        return
    state = StateDir(settings.frontier_state_dir)
    for name in processes(service_specs(settings)):
        out.print(f"Frontier: {stop_service(state, name, drain_s=drain_timeout)}")
    # The Ollama proxy process a stack started before the one-process stack ran (`frontier proxy`).
    if state.read("proxy") is not None:
        out.print(f"Ollama proxy (older stack): {stop_service(state, 'proxy', drain_s=drain_timeout)}")


def restart(no_ollama: bool = _NO_OLLAMA, timeout: float = _TIMEOUT, drain_timeout: float | None = _DRAIN,
            no_proxy: bool = _NO_PROXY) -> None:
    """Stop, then start."""
    stop(docker_=False, cuda=None, dry_run=False, drain_timeout=drain_timeout)
    start(docker_=False, cuda=None, dry_run=False, no_ollama=no_ollama or no_proxy, timeout=timeout, no_proxy=False)


def status() -> None:
    """One row per API: its process, uptime, URL, health (a real request), model, device, memory.
    Exit code 0 only when every API is healthy."""
    settings = settings_or_exit()
    rows = stack_status(service_specs(settings), StateDir(settings.frontier_state_dir))
    table = Table(title="Frontier stack")
    for column in ("service", "running", "pid", "uptime", "url", "health", "model", "device", "memory"):
        table.add_column(column, overflow="fold")
    for row in rows:
        health = "[green]ok[/green]" if row.healthy else f"[red]{escape(row.probe.detail)}[/red]"
        table.add_row(
            row.spec.name, "yes" if row.running else "[red]no[/red]", str(row.pid or "-"),
            format_uptime(row.uptime_s), row.spec.url, health, row.model or "-", row.device or "-",
            human_size(row.memory_bytes) if row.memory_bytes else "-",
        )
    Console(width=max(out.width, 160) if not out.is_terminal else None, highlight=False).print(table)
    for row in rows:
        if row.note:
            out.print(f"{row.spec.name}: {escape(row.note)}")
    healthy = all(row.healthy for row in rows)
    out.print("all services healthy" if healthy else "not all services are healthy (`frontier start` recovers)")
    raise typer.Exit(0 if healthy else 1)


def logs(
    service: str = typer.Argument(None, help="server | ollama (both APIs log to the one process's file)"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C ends)."),
    lines: int = typer.Option(100, "--lines", "-n", help="Lines of each log to show first."),
) -> None:
    """The log file of the backgrounded stack."""
    if service not in (None, SERVER, OLLAMA):
        err.print(f"[red]error[/red]: unknown service {escape(service)!r}; expected server or ollama")
        raise typer.Exit(2)
    state = StateDir(settings_or_exit().frontier_state_dir)
    names = [PROCESS]
    paths = {name: state.log_file(name) for name in names if state.log_file(name).is_file()}
    if not paths:
        err.print(f"no log files in {state.root}: start the stack with `frontier start`")
        raise typer.Exit(1)
    prefix = len(paths) > 1
    offsets: dict[str, int] = {}
    for name, path in paths.items():
        data = path.read_bytes()
        offsets[name] = len(data)
        for line in data.decode(errors="replace").splitlines()[-lines:]:
            typer.echo(f"{name} | {line}" if prefix else line)
    try:
        while follow:
            time.sleep(0.5)
            for name, path in paths.items():
                with path.open("rb") as fh:
                    fh.seek(offsets[name] if path.stat().st_size >= offsets[name] else 0)
                    chunk = fh.read()
                    offsets[name] = fh.tell()
                for line in chunk.decode(errors="replace").splitlines():
                    typer.echo(f"{name} | {line}" if prefix else line)
    except KeyboardInterrupt:
        pass


def validate_config(env_file: Path = _ENV_FILE) -> None:
    """Check .env, the environment, device, model, memory, disk and ports before starting; exit 1 on errors."""
    findings = validate(env_file, detect_hardware)
    marks = {"ok": "[green]ok[/green]     ", "warning": "[yellow]warning[/yellow]", "error": "[red]error[/red]  "}
    for f in findings:
        out.print(f"{marks[f.level]} {f.topic}: {escape(f.message)}")
        if f.fix and f.level != "ok":
            out.print(f"         fix: {escape(f.fix)}")
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    out.print(f"{errors} error(s), {warnings} warning(s)")
    raise typer.Exit(1 if errors else 0)


def register(app: typer.Typer) -> None:
    app.command("start", help="Start the stack in the background; waits until it is healthy.")(start)
    app.command("stop", help="Stop the backgrounded stack gracefully.")(stop)
    app.command("restart", help="Stop, then start the backgrounded stack.")(restart)
    app.command("status", help="Health of each service; exit 0 only when all are healthy.")(status)
    app.command("logs", help="Show (or follow) the services' log files.")(logs)
    app.command("validate-config", help="Check the configuration and this machine before starting.")(validate_config)
