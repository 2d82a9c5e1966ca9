"""`frontier bench` (load against any OpenAI- or Ollama-compatible endpoint) and `frontier perf-check`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from frontier.bench import clients, workload
from frontier.bench.chart import write_chart
from frontier.bench.report import print_report, to_json
from frontier.bench.runner import Plan, PromptFactory, run_plan
from frontier.security.auth import auth_headers

console = Console()
err = Console(stderr=True)
DEFAULT_URLS = {"openai": "http://127.0.0.1:8080", "ollama": "http://127.0.0.1:11434"}
_API_KEY = typer.Option(None, "--api-key", help="Bearer key to send [default: FRONTIER_API_KEY].",
                        show_default=False)


def _configured_key(api_key: str | None) -> str:
    """The key given, else FRONTIER_API_KEY (a broken .env must not stop a bench of another endpoint)."""
    if api_key is not None:
        return api_key
    from frontier.config import load_settings
    from frontier.errors import ConfigError

    try:
        return load_settings().frontier_api_key
    except ConfigError:
        return ""


def parse_levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    if not levels or any(n < 1 for n in levels):
        raise typer.BadParameter(f"concurrency levels must be positive integers, got {text!r}")
    return levels


def _api(value: str) -> clients.Api:
    if value not in ("openai", "ollama"):
        raise typer.BadParameter(f"--api must be openai or ollama, got {value!r}")
    return value  # type: ignore[return-value]


async def _prompt_factory(http: httpx.AsyncClient, api: clients.Api, url: str, model: str,
                          tokenizer_url: str | None) -> tuple[PromptFactory, str]:
    """Exact lengths through `/tokenize` where the target (or --tokenizer-url) has it, else an estimate."""
    token_url, token_model = tokenizer_url or url, model
    if tokenizer_url:
        # Frontier's Ollama API serves no /tokenize, but the OpenAI server behind it does; its model id is
        # not the Ollama name, so ask it.
        with contextlib.suppress(httpx.HTTPError, ValueError):
            token_model = await clients.discover_model("openai", http, tokenizer_url)
    if await clients.has_tokenize(http, token_url, token_model):
        count = clients.tokenize_counter(http, token_url, token_model)

        async def exact(seed: str, tokens: int) -> workload.Prompt:
            return await workload.exact_prompt(seed, tokens, count)

        return exact, f"exact (tokenized by {token_url}/tokenize)"

    async def estimated(seed: str, tokens: int) -> workload.Prompt:
        return workload.estimated_prompt(seed, tokens)

    return estimated, f"estimated ({workload.ESTIMATED_TOKENS_PER_WORD} token per word; no /tokenize at {token_url})"


async def _bench(args: dict[str, Any]) -> int:
    plan: Plan = args["plan"]
    timeout = httpx.Timeout(args["timeout"], connect=10)
    limits = httpx.Limits(max_connections=max(plan.concurrency) * 2 + 4, max_keepalive_connections=64)
    headers = auth_headers(args["api_key"])
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers=headers) as http:
        specs = [(args["api"], args["url"], args["model"], args["tokenizer_url"])]
        if args["compare"]:
            specs.append((args["compare_api"] or args["api"], args["compare"], args["compare_model"] or args["model"],
                          args["tokenizer_url"]))
        targets, lengths = [], []
        for api, url, model, tok_url in specs:
            try:
                model = model or await clients.discover_model(api, http, url)
            except (httpx.HTTPError, ValueError) as exc:
                err.print(f"[red]error[/red]: cannot list models at {url} ({exc}); is it running? pass --model")
                return 2
            client = clients.make_client(api, http, url, model, ignore_eos=args["ignore_eos"],
                                         temperature=args["temperature"])
            factory, label = await _prompt_factory(http, api, url, model, tok_url)
            targets.append((client, factory))
            lengths.append(label)
        names = ["base", "compare"][: len(targets)]
        results = await run_plan(plan, targets, names, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    notes = [f"prompt lengths, {n}: {label}" for n, label in zip(names, lengths, strict=True)]
    for r in results:
        if r.api == "openai":
            notes.append(f"{r.name}: ignore_eos " + ("honoured: every answer is max_tokens long" if r.ignore_eos
                                                     else "not used: answers may end early at end-of-sequence"))
        else:
            notes.append(f"{r.name}: Ollama API has no ignore_eos; answers may end before num_predict")
    if plan.turns > 1:
        notes.append("multi-turn: level rates include the cold control requests' time (1 new token each)")
    print_report(console, results, notes)
    doc = to_json(plan, results, "; ".join(lengths), notes)
    if args["json_path"]:
        args["json_path"].parent.mkdir(parents=True, exist_ok=True)
        args["json_path"].write_text(json.dumps(doc, indent=2))
        err.print(f"wrote {args['json_path']}")
    if args["chart_path"]:
        write_chart(results, args["chart_path"], title=f"frontier bench: {results[0].model}, "
                    f"{plan.prompt_tokens} prompt / {plan.max_tokens} new tokens")
        err.print(f"wrote {args['chart_path']}")
    return 1 if any(lv.errors for r in results for lv in r.levels) and args["fail_on_error"] else 0


def bench(
    api: str = typer.Option("openai", help="openai | ollama."),
    url: str = typer.Option(None, help="Endpoint base URL (default: 127.0.0.1:8080 openai, :11434 ollama)."),
    model: str = typer.Option(None, help="Model name (default: the first the endpoint lists)."),
    prompt_tokens: int = typer.Option(64, min=1, help="Tokens in each synthetic prompt (the message text)."),
    max_tokens: int = typer.Option(128, min=1, help="New tokens per request."),
    concurrency: str = typer.Option("1,4,8,16", help="Comma-separated concurrency levels."),
    requests: int = typer.Option(None, min=1, help="Requests per level and round (default 16)."),
    duration: float = typer.Option(None, min=0.1, help="Seconds per level and round, instead of --requests."),
    warmup: int = typer.Option(2, min=0, help="Warm-up requests per level (short, excluded)."),
    rounds: int = typer.Option(None, min=1, help="Measured rounds per level (default 1; 2 with --compare)."),
    seed: int = typer.Option(0, help="Seed of the synthetic prompts."),
    multi_turn: int = typer.Option(1, "--multi-turn", min=1, help="Turns per conversation (>1: multi-turn)."),
    turn_tokens: int = typer.Option(32, min=1, help="Tokens in each follow-up user message (multi-turn)."),
    compare: str = typer.Option(None, help="A second endpoint, run interleaved with the first."),
    compare_api: str = typer.Option(None, help="API of --compare (default: --api)."),
    compare_model: str = typer.Option(None, help="Model at --compare (default: --model, else its first)."),
    tokenizer_url: str = typer.Option(None, help="Server with /tokenize for exact prompt lengths (default: --url)."),
    ignore_eos: bool = typer.Option(True, help="Ask OpenAI endpoints for exactly max_tokens (ignore_eos)."),
    temperature: float = typer.Option(0.0, min=0.0, help="Sampling temperature."),
    timeout: float = typer.Option(600.0, min=1.0, help="Per-request timeout, seconds."),
    json_path: str = typer.Option(None, "--json", help="Write the report as JSON here."),
    chart_path: str = typer.Option(None, "--chart", help="Write a PNG chart here."),
    fail_on_error: bool = typer.Option(False, help="Exit 1 when any request failed."),
    api_key: str = _API_KEY,
) -> None:
    api_ = _api(api)
    if requests is not None and duration is not None:
        raise typer.BadParameter("give --requests or --duration, not both")
    plan = Plan(concurrency=parse_levels(concurrency), max_tokens=max_tokens, prompt_tokens=prompt_tokens,
                requests=None if duration is not None else (requests or 16), duration=duration, warmup=warmup,
                rounds=rounds or (2 if compare else 1), seed=seed, turns=multi_turn, turn_tokens=turn_tokens)
    args = {"plan": plan, "api": api_, "url": url or DEFAULT_URLS[api_], "model": model, "compare": compare,
            "compare_api": _api(compare_api) if compare_api else None, "compare_model": compare_model,
            "tokenizer_url": tokenizer_url, "ignore_eos": ignore_eos, "temperature": temperature,
            "timeout": timeout, "json_path": Path(json_path) if json_path else None,
            "chart_path": Path(chart_path) if chart_path else None, "fail_on_error": fail_on_error,
            "api_key": _configured_key(api_key)}
    raise typer.Exit(asyncio.run(_bench(args)))


def perf_check(
    url: str = typer.Option(None, help="Also query a running server's /health and /v1/models."),
    json_path: str = typer.Option(None, "--json", help="Write the facts and recommendations as JSON here."),
    api_key: str = _API_KEY,
) -> None:
    from frontier.cli.settings import settings_or_exit
    from frontier.engine import perf_check as pc

    settings = settings_or_exit()
    facts = pc.gather(settings)
    recs = pc.recommend(facts)
    doc = pc.facts_dict(facts, recs)
    console.print(f"[bold]platform[/bold]: {facts.system} {facts.machine}, {facts.cpu_model or 'unknown CPU'}, "
                  f"{facts.usable_cores} usable of {facts.logical_cores} cores; SIMD: {' '.join(facts.simd) or '-'}")
    console.print(f"[bold]acceleration[/bold]: {facts.device.device} ({facts.device.reason})")
    for warning in facts.device.warnings:
        console.print(f"  [yellow]warning[/yellow]: {warning}")
    console.print(f"[bold]engine[/bold]: mistralrs {facts.engine_version or '-'}, {facts.engine_build}; "
                  f"llama-cpp-python {facts.llamacpp_version or 'not installed'}")
    console.print(f"[bold]serves the configured model[/bold]: {facts.engine_choice}")
    console.print(f"[bold]threads[/bold]: {facts.threads} "
                  + (f"(RAYON_NUM_THREADS={facts.rayon_threads})" if facts.rayon_threads
                     else "(RAYON_NUM_THREADS unset: one per usable core)"))
    meta = facts.model_meta
    if meta is not None:
        if facts.engine_choice.startswith("llamacpp"):
            served = "a Q8_0 copy in .derived/" if facts.isq else "as shipped"
            console.print(f"[bold]model[/bold]: {settings.model_path()} ({meta.format} {meta.quantization or '?'}); "
                          f"served {served}")
        else:
            kernel = "SIMD kernel" if meta.has_simd_kernel else "no SIMD kernel on CPU"
            console.print(f"[bold]model[/bold]: {settings.model_path()} ({meta.format} {meta.quantization or '?'}, "
                          f"{kernel}); ISQ at load: {facts.isq or 'none'}")
    else:
        console.print(f"[bold]model[/bold]: [yellow]{facts.model_error}[/yellow]")
    table = Table(title="settings in effect", title_justify="left")
    for col in ("variable", "value", "applies", "effect here"):
        table.add_column(col)
    for e in facts.effects:
        if e.variable in pc.PERF_VARIABLES:
            table.add_row(e.variable, e.value, "yes" if e.applies else "[yellow]no[/yellow]", e.detail)
    console.print(table)
    if url:
        doc["server"] = _query_server(url, _configured_key(api_key))
    if recs:
        rec_table = Table(title="recommendations", title_justify="left")
        for col in ("level", "variable", "set to", "why"):
            rec_table.add_column(col)
        for r in recs:
            rec_table.add_row(r.level, r.variable, r.suggestion, r.reason)
        console.print(rec_table)
    else:
        console.print("[green]no changes recommended[/green]")
    if json_path:
        Path(json_path).write_text(json.dumps(doc, indent=2))
        err.print(f"wrote {json_path}")


def _query_server(url: str, api_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {"url": url}
    for path in ("/health", "/v1/models"):
        try:
            response = httpx.get(url.rstrip("/") + path, headers=auth_headers(api_key), timeout=10)
            body = response.json() if "json" in response.headers.get("content-type", "") else response.text[:200]
            out[path] = {"status": response.status_code, "body": body}
            console.print(f"[bold]{path}[/bold] {response.status_code}: {json.dumps(body)[:300]}")
        except httpx.HTTPError as exc:
            out[path] = {"error": str(exc)}
            console.print(f"[bold]{path}[/bold]: [red]{exc}[/red]")
    return out
