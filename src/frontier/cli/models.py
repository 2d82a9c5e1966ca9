"""`frontier models ...` (owned by the models capability)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontier.config import load_settings
from frontier.errors import FrontierError
from frontier.models.catalog import load_catalog
from frontier.models.common import human_size
from frontier.models.download import ensure_default_model, fetch_model_file, plan_download, safe_target
from frontier.models.sources import FetchOptions

app = typer.Typer(no_args_is_help=True)

_MODELS_PATH = typer.Option(None, "--models-path", help="Models folder (default: MISTRAL_MODELS_PATH).")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def _options(quiet: bool) -> FetchOptions:
    # The fallback notice is a log line; without a handler configured elsewhere it would be lost.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return FetchOptions(progress=False if quiet else None)


def _fail(exc: FrontierError) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


@app.command("list-available")
def list_available() -> None:
    """The model catalog: names, quantizations, sizes, Ollama names."""
    table = Table(title="Model catalog (default quantization in bold)")
    for column in ("Name", "Model", "Quantizations", "Size", "Context", "Arch", "Licence", "Ollama names"):
        table.add_column(column, no_wrap=column in ("Name", "Size"))
    for entry in load_catalog().entries:
        default = entry.file_for()
        size = human_size(default.size) if default.size else (default.approx_size or "?")
        quants = " ".join(f"[bold]{q}[/bold]" if q == entry.default_quant else q for q in entry.files)
        name = f"{entry.name} (default)" if entry.default else entry.name
        aliases = ", ".join(a.removesuffix(":latest") for a in entry.aliases)
        table.add_row(name, entry.title, quants, size, f"{entry.context_length:,}", entry.architecture,
                      entry.licence, aliases)
    console = Console()
    # Piped output gets rich's 80-column default, which would truncate every cell; a pipe can take wide lines.
    Console(width=max(console.width, 160) if not console.is_terminal else None).print(table)


@app.command("download")
def download(
    ref: str = typer.Argument(..., help="catalog-name[:quant] | Ollama name | hf-owner/repo[/file] | URL"),
    models_path: Path | None = _MODELS_PATH,
    quant: str | None = typer.Option(None, "--quant", help="Quantization, e.g. Q4_K_M."),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected digest (URL and hub downloads)."),
    quiet: bool = _QUIET,
) -> None:
    """Fetch a model file into the models folder (resumable, verified)."""
    options = _options(quiet)
    try:
        folder = models_path or load_settings().mistral_models_path
        model_file = plan_download(ref, load_catalog(), quant=quant, sha256=sha256, options=options)
        path = fetch_model_file(model_file, safe_target(folder, model_file.local_name), options=options)
    except FrontierError as exc:
        raise _fail(exc) from None
    typer.echo(str(path))


@app.command("fetch-default")
def fetch_default(models_path: Path | None = _MODELS_PATH, quiet: bool = _QUIET) -> None:
    """Ensure the configured model (MISTRAL_MODEL_ID) is present and verified; print its path."""
    options = _options(quiet)
    try:
        overrides = {"mistral_models_path": models_path} if models_path else {}
        path = ensure_default_model(load_settings(**overrides), options=options)
    except FrontierError as exc:
        raise _fail(exc) from None
    typer.echo(str(path))
