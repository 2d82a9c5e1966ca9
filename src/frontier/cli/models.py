"""`frontier models ...` (owned by the models capability)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontier.config import load_settings
from frontier.engine.choice import serving_engines
from frontier.errors import FrontierError
from frontier.models.aliases import read_aliases
from frontier.models.catalog import load_catalog
from frontier.models.common import human_size
from frontier.models.download import ensure_default_model, fetch_model_file, plan_download, safe_target
from frontier.models.registry import describe, remove_model, scan, write_selector
from frontier.models.sources import FetchOptions

app = typer.Typer(no_args_is_help=True)

_MODELS_PATH = typer.Option(None, "--models-path", help="Models folder (default: MISTRAL_MODELS_PATH).")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def _options(quiet: bool, insecure: bool = False) -> FetchOptions:
    # The fallback notice is a log line; without a handler configured elsewhere it would be lost.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return FetchOptions(progress=False if quiet else None, insecure=insecure)


def _fail(exc: FrontierError) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


@app.command("list-available")
def list_available() -> None:
    """The model catalog: names, quantizations, sizes, the engines that serve each correctly, Ollama names."""
    table = Table(title="Model catalog (default quantization in bold)")
    for column in ("Name", "Model", "Quantizations", "Size", "Context", "Arch", "Engines", "Licence",
                   "Ollama names"):
        table.add_column(column, no_wrap=column in ("Name", "Size"))
    for entry in load_catalog(extra=load_settings().frontier_catalog).entries:
        default = entry.file_for()
        size = human_size(default.size) if default.size else (default.approx_size or "?")
        quants = " ".join(f"[bold]{q}[/bold]" if q == entry.default_quant else q for q in entry.files)
        name = f"{entry.name} (default)" if entry.default else entry.name
        aliases = ", ".join(a.removesuffix(":latest") for a in entry.aliases)
        table.add_row(name, entry.title, quants, size, f"{entry.context_length:,}", entry.architecture,
                      " ".join(serving_engines(entry.architecture)), entry.licence, aliases)
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
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain-HTTP URLs that are not on loopback."),
) -> None:
    """Fetch a model file into the models folder (resumable, verified; https only unless --insecure)."""
    options = _options(quiet, insecure)
    try:
        folder = models_path or load_settings().mistral_models_path
        catalog = load_catalog(extra=load_settings().frontier_catalog)
        model_file = plan_download(ref, catalog, quant=quant, sha256=sha256, options=options)
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


@app.command("check")
def check(models_path: Path | None = _MODELS_PATH) -> None:
    """Every model in the models folder with its metadata; damaged ones flagged (exit 1 if any)."""
    folder = models_path or load_settings().mistral_models_path
    entries = scan(folder)
    table = Table(title=f"models in {folder}")
    for column in ("name", "format", "size", "architecture", "parameters", "quantization", "context", "status"):
        table.add_column(column)
    for e in entries:
        m = e.meta
        table.add_row(
            escape(e.name), m.format if m else "?", human_size(m.size_bytes) if m else "?",
            m.architecture if m else "", f"{m.parameter_count / 1e6:.0f}M" if m and m.parameter_count else "",
            m.quantization if m else "", str(m.context_length or "") if m else "",
            "ok" if e.ok else f"[red]broken: {escape(e.problem)}[/red]",
        )
    Console(soft_wrap=True).print(table)
    if not entries:
        Console().print(f"no models in {folder}; try `frontier models fetch-default`")
    if any(not e.ok for e in entries):
        raise typer.Exit(1)


@app.command("info")
def info(model: str, models_path: Path | None = _MODELS_PATH) -> None:
    """Metadata of one model in the models folder (a name inside it; no paths outside it)."""
    folder = models_path or load_settings().mistral_models_path
    try:
        path = safe_target(folder, model)
    except FrontierError as exc:
        raise _fail(exc) from None
    if not path.exists():
        raise _fail(FrontierError(f"no model {model!r} in {folder}"))
    e = describe(path)
    console = Console(soft_wrap=True)
    console.print(f"[bold]{escape(e.name)}[/bold]  {escape(str(e.path))}")
    if e.meta:
        m = e.meta
        for label, value in (("format", m.format), ("size", human_size(m.size_bytes)),
                             ("architecture", m.architecture), ("parameters", f"{m.parameter_count:,}"),
                             ("quantization", m.quantization), ("context length", m.context_length),
                             ("chat template", "yes" if m.chat_template else "no")):
            console.print(f"  {label}: {escape(str(value))}")
    console.print(f"  status: {'ok' if e.ok else 'broken: ' + escape(e.problem)}")
    if not e.ok:
        raise typer.Exit(1)


@app.command("rm")
def rm(
    model: str = typer.Argument(..., help="A model file or folder name in the models folder, or an alias."),
    models_path: Path | None = _MODELS_PATH,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a model (or an alias) from the models folder. Nothing outside the folder is ever touched."""
    folder = models_path or load_settings().mistral_models_path
    try:
        if model not in read_aliases(folder):
            path = safe_target(folder, model)
            if not path.exists():
                raise FrontierError(f"no model {model!r} in {folder}")
            meta = describe(path).meta
            what = f"{model} ({human_size(meta.size_bytes)})" if meta else model
        else:
            what = f"the alias {model}"
        if not yes and not typer.confirm(f"Delete {what}?", default=False):
            raise typer.Exit(1)
        removed = remove_model(folder, model)
    except FrontierError as exc:
        raise _fail(exc) from None
    typer.echo("deleted " + ", ".join(removed))


@app.command("configure")
def configure(model: str, models_path: Path | None = _MODELS_PATH) -> None:
    """Write a mistral.rs TOML selector for a model in the models folder (serve it with MISTRAL_MODEL_TYPE=toml)."""
    folder = models_path or load_settings().mistral_models_path
    try:
        target = write_selector(folder, model)
    except FrontierError as exc:
        raise _fail(exc) from None
    typer.echo(str(target))
