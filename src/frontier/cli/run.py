"""`frontier run`: the whole stack in the foreground (server + Ollama layer), stopped together by Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import typer

from frontier.config import load_settings
from frontier.errors import ConfigError


def run(no_proxy: bool = typer.Option(False, "--no-proxy", help="Start only the OpenAI-compatible server.")) -> None:
    try:
        settings = load_settings()  # an invalid setting stops here, before any child starts
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    commands = [[sys.executable, "-m", "frontier", "serve"]]
    if not no_proxy:
        commands.append([sys.executable, "-m", "frontier", "proxy"])
    children = [subprocess.Popen(cmd) for cmd in commands]
    server = f"http://{settings.mistral_host}:{settings.mistral_api_port}"
    typer.echo(f"OpenAI-compatible API: {server}/v1  (health: {server}/health)")
    if not no_proxy:
        typer.echo(f"Ollama-compatible API: http://{settings.ollama_api_host}:{settings.ollama_api_port}")
    typer.echo("Ctrl-C stops both.")

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # Either child ending (crash or Ctrl-C) ends the stack: a half-running stack would mislead clients.
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        # Each child drains for up to FRONTIER_DRAIN_SECONDS, then has a few seconds to shut down.
        deadline = time.monotonic() + settings.frontier_drain_seconds + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    codes = [child.returncode for child in children]
    raise typer.Exit(max((abs(c) for c in codes if c not in (None, 0, -signal.SIGTERM)), default=0))
