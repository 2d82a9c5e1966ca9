"""The `frontier` command. Each capability owns its sub-commands in its own module; this file wires them."""

from __future__ import annotations

import typer

from frontier.cli import bench as bench_cli
from frontier.cli import cluster as cluster_cli
from frontier.cli import models as models_cli
from frontier.cli import ollama as ollama_cli
from frontier.cli import run as run_cli
from frontier.cli import serve as serve_cli
from frontier.cli import service as service_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Frontier: self-hosted LLM serving stack.")
app.command("serve", help="Run the OpenAI-compatible server in the foreground.")(serve_cli.serve)
app.command("run", help="Run the server and the Ollama API in the foreground.")(run_cli.run)
app.add_typer(models_cli.app, name="models", help="Model catalog, downloads and the local registry.")
ollama_cli.register(app)
app.command("bench", help="Benchmark an OpenAI- or Ollama-compatible endpoint.")(bench_cli.bench)
app.command("perf-check", help="Platform, engine build and settings that decide speed; recommendations.")(
    bench_cli.perf_check
)
service_cli.register(app)
app.add_typer(cluster_cli.app, name="cluster", help="Frontier on a Ray Serve cluster (the cluster extra).")

if __name__ == "__main__":
    app()
