"""`frontier run`: the whole stack in the foreground, one process serving the OpenAI-compatible API
(MISTRAL_API_PORT) and the Ollama API (OLLAMA_API_PORT) over the same engines; Ctrl-C or SIGTERM stops it."""

from __future__ import annotations

import os

import typer

from frontier.cli.serve import console, serve_stack
from frontier.config import load_settings
from frontier.errors import ConfigError


def run(
    no_ollama: bool = typer.Option(False, "--no-ollama", help="Serve only the OpenAI-compatible API."),
    no_proxy: bool = typer.Option(False, "--no-proxy", hidden=True, help="The old name of --no-ollama."),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        settings = load_settings()  # an invalid setting stops here, before anything starts
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    ollama = not (no_ollama or no_proxy)
    server = f"http://{settings.mistral_host}:{settings.mistral_api_port}"
    console.print(f"OpenAI-compatible API: {server}/v1  (health: {server}/health)", highlight=False)
    if ollama:
        console.print(f"Ollama-compatible API: http://{settings.ollama_api_host}:{settings.ollama_api_port}",
                      highlight=False)
    console.print("Ctrl-C stops both." if ollama else "Ctrl-C stops it.", highlight=False)
    serve_stack(settings, ollama=ollama)
