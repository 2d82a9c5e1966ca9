"""`frontier serve`: the OpenAI-compatible server in the foreground."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.console import Console

from frontier.config import Settings, load_settings
from frontier.engine.device import choose_device, detect_hardware
from frontier.engine.report import setting_effects
from frontier.errors import ConfigError, DownloadError
from frontier.logs import configure_logging

console = Console(stderr=True)


def print_startup_report(settings: Settings) -> None:
    choice = choose_device(settings, detect_hardware())
    console.print(f"[bold]device[/bold]: {choice.device} ({choice.reason})")
    for warning in choice.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}")
    for e in setting_effects(settings, choice):
        mark = "applied" if e.applies else "[yellow]not applicable[/yellow]"
        console.print(f"  {e.variable}={e.value}: {mark} - {e.detail}")


def serve(
    host: str = typer.Option(None, help="Bind address (MISTRAL_HOST)."),
    port: int = typer.Option(None, help="Port (MISTRAL_API_PORT)."),
    ollama: bool = typer.Option(False, "--ollama", help="Serve the Ollama API too, from this process "
                                "(OLLAMA_API_HOST:OLLAMA_API_PORT), as `frontier run` does."),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    overrides = {k: v for k, v in {"mistral_host": host, "mistral_api_port": port}.items() if v is not None}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    serve_stack(settings, ollama=ollama)


def serve_stack(settings: Settings, *, ollama: bool) -> None:
    """The OpenAI-compatible server (and with `ollama` the Ollama API, on its own port, over the same engines)
    in the foreground until SIGTERM or Ctrl-C; exits 0 after a drain."""
    configure_logging(settings.mistral_log_level, settings.frontier_log_format)
    print_startup_report(settings)
    try:
        ensure_model(settings)
    except DownloadError as exc:
        # Keep going: the server answers /health with 503 and this reason, which supervisors can see.
        console.print(f"[red]error[/red]: {exc}")
    from frontier.engine.factory import build_engine
    from frontier.limits import Limits, drain
    from frontier.models.catalog import load_catalog
    from frontier.openai.app import create_app
    from frontier.security import SecurityPolicy, exposure_warning

    catalog = load_catalog(extra=settings.frontier_catalog)
    app = create_app(build_engine(settings), catalog=catalog, limits=Limits.from_settings(settings),
                     security=SecurityPolicy.from_settings(settings),
                     responses_dir=settings.frontier_state_dir / "responses")
    exposed = [("the OpenAI-compatible server", settings.mistral_host, settings.mistral_api_port)]
    # uvicorn's own info lines (one per start) add nothing to Frontier's start-up report. Frontier's middleware
    # writes the access line (with route, tokens, request id) and Frontier's handler formats uvicorn's own
    # lines: log_config=None keeps uvicorn's off.
    uvicorn_level = "warning" if settings.mistral_log_level == "info" else settings.mistral_log_level
    common: dict[str, object] = {"log_level": uvicorn_level, "access_log": False, "log_config": None}
    apps: list[tuple[object, dict[str, object]]] = [
        (app, {"host": settings.mistral_host, "port": settings.mistral_api_port, **common})]
    if ollama:
        apps.append((_ollama_app(settings, app, catalog),
                     {"host": settings.ollama_api_host, "port": settings.ollama_api_port, **common}))
        exposed.append(("the Ollama-compatible API", settings.ollama_api_host, settings.ollama_api_port))
    for what, host, port in exposed:
        warning = exposure_warning(what, host, port, settings.frontier_api_key)
        if warning:
            console.print(f"[yellow]warning[/yellow]: {warning}", soft_wrap=True, highlight=False)
    # SIGTERM drains (FRONTIER_DRAIN_SECONDS): in-flight requests finish, new ones get 503, then exit 0.
    drain.serve_together(apps, app.state.drain)  # type: ignore[arg-type]
    sys.exit(0)


def _ollama_app(settings: Settings, server_app: Any, catalog: Any) -> Any:
    """The Ollama API over the server app's engines, in this process."""
    from frontier.engine.pool import EnginePool
    from frontier.ollama.app import InProcess, create_app

    pool = server_app.state.engine
    if not isinstance(pool, EnginePool):
        raise ConfigError("the Ollama API needs the engine pool (frontier serve's engine)")
    return create_app(settings, local=InProcess(pool, server_app.state.limited, catalog, server_app,
                                                server_app.state.drain))


def ensure_model(settings: Settings) -> None:
    """Fetches the embedded default model when it is the one configured and missing."""
    from frontier.models import download

    download.ensure_default_model(settings)
