"""Ollama's model management (`/api/pull`, `/api/delete`, `/api/copy`, keep_alive load/unload) carried out by a
Frontier upstream's `/frontier/models/...` extension. Against any other upstream these degrade: a served model
counts as pulled, and the rest is "not supported".
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from frontier.errors import FrontierError, ModelNotFoundError
from frontier.ollama.metadata import UpstreamModel
from frontier.ollama.names import normalise
from frontier.ollama.upstream import LineStream, Upstream, UpstreamRejected

LOAD_PATH = "/frontier/models/load"
UNLOAD_PATH = "/frontier/models/unload"
PULL_PATH = "/frontier/models/pull"
DELETE_PATH = "/frontier/models/delete"
COPY_PATH = "/frontier/models/copy"


def keep_alive_seconds(keep_alive: float | None) -> float | None:
    """Ollama's parsed keep_alive (FOREVER for negative) -> the server's seconds (negative = until evicted)."""
    if keep_alive is None:
        return None
    return -1.0 if math.isinf(keep_alive) else keep_alive


async def set_loaded(upstream: Upstream, model: UpstreamModel, keep_alive: float | None) -> None:
    """Ollama's empty prompt: keep_alive 0 unloads, anything else loads (and sets the expiry)."""
    if not model.manageable:
        return
    if keep_alive == 0:
        await upstream.post_json(UNLOAD_PATH, {"model": model.id})
    else:
        await upstream.post_json(LOAD_PATH, {"model": model.id, "keep_alive": keep_alive_seconds(keep_alive)})
    await upstream.models(refresh=True)


async def open_pull(upstream: Upstream, name: str, target: str | None) -> LineStream:
    """Starts a pull on the upstream: the map's target for `name` when there is one (a catalog name or
    file), else the name itself (the catalog knows Ollama names). Unknown names are ModelNotFoundError."""
    try:
        return await upstream.open_lines(PULL_PATH, {"model": target or name})
    except UpstreamRejected as exc:
        if exc.status == 404:
            raise ModelNotFoundError(name) from exc
        raise


async def pull_lines(upstream: Upstream, lines: LineStream) -> AsyncIterator[dict[str, Any]]:
    """The upstream's progress lines, already in Ollama's shape; the model list is refreshed at the end."""
    try:
        async for line in lines.lines():
            if "error" in line:
                yield {"error": str(line["error"])}
                return
            if line.get("status") == "success":
                await upstream.models(refresh=True)
                yield {"status": "success"}
                return
            yield line
        yield {"error": "upstream ended the pull without success"}
    except FrontierError as exc:
        yield {"error": str(exc)}
    finally:
        await lines.aclose()


async def delete(upstream: Upstream, model: UpstreamModel, name: str) -> None:
    await _call(upstream, DELETE_PATH, {"model": model.id}, name)


async def copy(upstream: Upstream, model: UpstreamModel, source: str, destination: str) -> None:
    await _call(upstream, COPY_PATH, {"source": model.id, "destination": normalise(destination)}, source)


async def _call(upstream: Upstream, path: str, body: dict[str, Any], name: str) -> None:
    try:
        await upstream.post_json(path, body)
    except UpstreamRejected as exc:
        if exc.status == 404:
            raise ModelNotFoundError(name) from exc
        raise
    await upstream.models(refresh=True)
