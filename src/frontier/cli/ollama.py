"""`frontier proxy` and `frontier check aider` (owned by the Ollama capability)."""

from __future__ import annotations

import typer
from rich.console import Console

from frontier.cli.settings import settings_or_exit
from frontier.config import load_settings
from frontier.errors import ConfigError
from frontier.logs import configure_logging
from frontier.security import exposure_warning

console = Console(stderr=True)
check_app = typer.Typer(no_args_is_help=True, help="Check a running stack the way real clients use it.")


def proxy(
    host: str = typer.Option(None, help="Bind address (OLLAMA_API_HOST)."),
    port: int = typer.Option(None, help="Port (OLLAMA_API_PORT)."),
    upstream: str = typer.Option(None, help="OpenAI-compatible upstream URL (FRONTIER_UPSTREAM_URL)."),
) -> None:
    """Run the Ollama-compatible API in the foreground, forwarding to the OpenAI-compatible upstream."""
    overrides = {"ollama_api_host": host, "ollama_api_port": port, "frontier_upstream_url": upstream}
    try:
        settings = load_settings(**{key: value for key, value in overrides.items() if value is not None})
        from frontier.limits import drain
        from frontier.ollama.app import create_app

        app = create_app(settings)
    except ConfigError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    level = settings.proxy_log_level
    configure_logging(level, settings.frontier_log_format)
    console.print(
        f"Ollama API on http://{settings.ollama_api_host}:{settings.ollama_api_port} -> {settings.upstream_url}"
    )
    warning = exposure_warning("the Ollama-compatible API", settings.ollama_api_host, settings.ollama_api_port,
                               settings.frontier_api_key)
    if warning:
        console.print(f"[yellow]warning[/yellow]: {warning}", soft_wrap=True, highlight=False)
    # SIGTERM drains (FRONTIER_DRAIN_SECONDS): in-flight requests finish, new ones get 503, then exit 0.
    drain.serve(
        app,
        app.state.drain,
        host=settings.ollama_api_host,
        port=settings.ollama_api_port,
        log_level=level,
        # Frontier's middleware writes the access line; its handler formats uvicorn's lines (log_config=None).
        access_log=False,
        log_config=None,
    )


@check_app.command("aider")
def check_aider(
    url: str = typer.Option(None, help="URL of the running Ollama API [default: OLLAMA_API_HOST:OLLAMA_API_PORT]."),
    model: str = typer.Option("smollm2:135m", help="Ollama model name to use."),
    timeout: float = typer.Option(120.0, help="Seconds allowed per step."),
) -> None:
    """Replay the requests Aider makes through litellm (show, chat, generate); print pass/fail per step."""
    from frontier.ollama.check_aider import run_checks

    if url is None:
        settings = settings_or_exit()
        host = "127.0.0.1" if settings.ollama_api_host in ("0.0.0.0", "::") else settings.ollama_api_host
        url = f"http://{host}:{settings.ollama_api_port}"
    results = run_checks(url, model, timeout=timeout, api_key=_api_key())
    for result in results:
        mark = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {result.step}: {result.detail}", soft_wrap=True)
    failed = sum(not result.ok for result in results)
    console.print(f"{len(results) - failed}/{len(results)} steps passed")
    raise typer.Exit(1 if failed else 0)


def _api_key() -> str:
    try:
        return load_settings().frontier_api_key
    except ConfigError:
        return ""


def register(app: typer.Typer) -> None:
    """Adds this capability's commands to the root app."""
    app.command("proxy", help="Run the Ollama-compatible API (OLLAMA_API_HOST:OLLAMA_API_PORT).")(proxy)
    app.add_typer(check_app, name="check", help="Replay real clients' request sequences against a stack.")
