"""A download into the models folder reported as a stream of Ollama-style progress events (`/api/pull`).

The fetch itself is `download.fetch_model_file` (resumable, verified, atomic) run in a worker thread; its
byte counts reach the event loop through a queue, thinned to a few events a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from frontier.errors import DownloadError, FrontierError, InvalidRequestError
from frontier.models.catalog import Catalog, ModelFile
from frontier.models.download import fetch_model_file, plan_download, safe_target
from frontier.models.sources import FetchOptions
from frontier.models.url_policy import url_refusal

_EVERY = 0.25  # seconds between progress events
_HUB_PREFIXES = ("hf.co/", "huggingface.co/")  # Ollama's syntax for Hugging Face GGUF repos


@dataclass(frozen=True, slots=True)
class PullPlan:
    model_file: ModelFile
    target: Path
    insecure: bool = False  # plain-HTTP sources allowed (the request said so)


def _path_like(name: str) -> bool:
    lowered = name.lower()
    return (name.startswith(("/", "~")) or "\\" in name or ".." in PurePosixPath(name).parts
            or "%2e" in lowered or "%2f" in lowered)


def plan_pull(ref: str, catalog: Catalog, models_path: Path, *, insecure: bool = False) -> PullPlan:
    """What pulling `ref` fetches and where: a catalog name or Ollama name, a catalog file name, an
    `hf.co/owner/repo[:quant]` or `owner/repo[/file]`, or a URL. Raises ModelNotFoundError / DownloadError."""
    text = ref.strip()
    for prefix in _HUB_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    if "://" in text:
        if (reason := url_refusal(text, insecure=insecure)) is not None:
            raise InvalidRequestError(reason, param="model")
    elif _path_like(text):
        # A name, never a path: `../x` would otherwise become a hub "repo" named `..`.
        raise InvalidRequestError(f"invalid model name {ref!r}: a name or URL, not a path", param="model")
    resolved = catalog.by_filename(text)
    if resolved is not None:
        model_file = resolved.file
    else:
        model_file = plan_download(text, catalog, options=FetchOptions(progress=False))
    for source in model_file.sources:
        url = getattr(source, "url", "")
        if url and (reason := url_refusal(url, insecure=insecure)) is not None:
            raise InvalidRequestError(f"{model_file.file}: {reason}", param="model")
    try:
        target = safe_target(models_path, model_file.local_name)
    except DownloadError as exc:
        raise InvalidRequestError(str(exc), param="model") from None
    return PullPlan(model_file, target, insecure)


async def pull_events(plan: PullPlan) -> AsyncIterator[dict[str, Any]]:
    """Ollama's pull progress lines, ending in `{"status": "success", "model": <id>}`; a failure ends the
    stream with `{"error": ...}` (the status line has been sent by then)."""
    model_file = plan.model_file
    digest = f"sha256:{model_file.sha256}" if model_file.sha256 else ""
    label = f"pulling {model_file.sha256[:12]}" if model_file.sha256 else f"pulling {model_file.local_name}"
    yield {"status": "pulling manifest"}
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, int | None]] = asyncio.Queue()
    last = [0.0]

    def progress(held: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= _EVERY or (total is not None and held >= total):
            last[0] = now
            loop.call_soon_threadsafe(queue.put_nowait, (held, total))

    options = FetchOptions(progress=False, on_progress=progress, insecure=plan.insecure)
    # A client that leaves mid-pull does not stop the thread: the file still lands, verified, for next time.
    fetch = asyncio.ensure_future(asyncio.to_thread(fetch_model_file, model_file, plan.target, options=options))
    try:
        while not fetch.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({fetch, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            held, total = getter.result()
            yield _progress_line(label, digest, held, total or model_file.size)
        path = await fetch
    except FrontierError as exc:
        yield {"error": str(exc)}
        return
    size = path.stat().st_size
    yield _progress_line(label, digest, size, size)
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    yield {"status": "success", "model": path.name}


def _progress_line(label: str, digest: str, held: int, total: int | None) -> dict[str, Any]:
    line: dict[str, Any] = {"status": label, "completed": held}
    if digest:
        line["digest"] = digest
    if total:
        line["total"] = total
    return line

