"""Where the Ollama capability learns which models exist and manages them: `ModelSource`.

Two implementations, one per arrangement:
- `LocalModels` (ollama/local.py): the engine pool of this process (`frontier run`, `frontier serve`).
- `RemoteModels` (here): an OpenAI-compatible upstream (`frontier proxy`). Against a Frontier upstream its
  `/frontier/models/...` extension does pull/delete/copy/load; against any other upstream these degrade (a
  served model counts as pulled, the rest is "not supported").
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any, Protocol

from frontier.engine.remote.faults import UpstreamRejected
from frontier.engine.remote.streams import LineStream
from frontier.engine.remote.upstream import Entry, Upstream
from frontier.errors import FrontierError, ModelNotFoundError
from frontier.ollama.answer import Stream
from frontier.ollama.metadata import UpstreamModel
from frontier.ollama.names import normalise

LOAD_PATH = "/frontier/models/load"
UNLOAD_PATH = "/frontier/models/unload"
PULL_PATH = "/frontier/models/pull"
DELETE_PATH = "/frontier/models/delete"
COPY_PATH = "/frontier/models/copy"


class ModelSource(Protocol):
    async def models(self, *, refresh: bool = False) -> list[UpstreamModel] | None:
        """The served models; None where the source cannot list them (an upstream without /v1/models)."""
        ...

    async def count_tokens(self, model_id: str, text: str) -> int | None:
        """Tokens in `text` by the model's tokenizer; None where there is none to ask."""
        ...

    async def set_loaded(self, model: UpstreamModel, keep_alive: float | None) -> None:
        """Ollama's empty prompt: keep_alive 0 unloads, anything else loads (and sets the expiry)."""
        ...

    async def pull(self, name: str, target: str | None) -> Stream:
        """Starts fetching `target` (or `name`); refusals are raised here, later failures are an error line."""
        ...

    async def delete(self, model: UpstreamModel, name: str) -> None: ...

    async def copy(self, model: UpstreamModel, source: str, destination: str) -> None: ...


def keep_alive_seconds(keep_alive: float | None) -> float | None:
    """Ollama's parsed keep_alive (FOREVER for negative) -> the engines' seconds (negative = until evicted)."""
    if keep_alive is None:
        return None
    return -1.0 if math.isinf(keep_alive) else keep_alive


async def progress(lines: AsyncIterator[dict[str, Any]], on_success: Any = None) -> AsyncIterator[dict[str, Any]]:
    """Pull progress lines in Ollama's shape, ending at the first error or success."""
    try:
        async for line in lines:
            if "error" in line:
                yield {"error": str(line["error"])}
                return
            if line.get("status") == "success":
                if on_success is not None:
                    await on_success()
                yield {"status": "success"}
                return
            yield line
        yield {"error": "the pull ended without success"}
    except FrontierError as exc:
        yield {"error": str(exc)}


class RemoteModels:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._entries: list[Entry] | None = None
        self._models: list[UpstreamModel] | None = None

    async def models(self, *, refresh: bool = False) -> list[UpstreamModel] | None:
        entries = await self.upstream.models(refresh=refresh)
        if entries is not self._entries:  # read once per fetched list, not once per request
            self._entries = entries
            self._models = None if entries is None else [UpstreamModel.from_openai(entry) for entry in entries]
        return self._models

    async def count_tokens(self, model_id: str, text: str) -> int | None:
        return await self.upstream.count_tokens(model_id, text)

    async def set_loaded(self, model: UpstreamModel, keep_alive: float | None) -> None:
        if not model.manageable:
            return
        if keep_alive == 0:
            await self.upstream.post_json(UNLOAD_PATH, {"model": model.id})
        else:
            await self.upstream.post_json(LOAD_PATH, {"model": model.id, "keep_alive": keep_alive_seconds(keep_alive)})
        await self.upstream.models(refresh=True)

    async def pull(self, name: str, target: str | None) -> Stream:
        """The map's target for `name` when there is one (a catalog name or file), else the name itself (the
        catalog knows Ollama names). Unknown names are ModelNotFoundError."""
        try:
            opened = await self.upstream.open_lines(PULL_PATH, {"model": target or name})
        except UpstreamRejected as exc:
            if exc.status == 404:
                raise ModelNotFoundError(name) from exc
            raise
        return Stream(self._lines(opened), opened.aclose)

    async def _lines(self, opened: LineStream) -> AsyncIterator[dict[str, Any]]:
        async def refresh() -> None:
            await self.upstream.models(refresh=True)

        try:
            async for line in progress(opened.lines(), refresh):
                yield line
        finally:
            await opened.aclose()

    async def delete(self, model: UpstreamModel, name: str) -> None:
        await self._call(DELETE_PATH, {"model": model.id}, name)

    async def copy(self, model: UpstreamModel, source: str, destination: str) -> None:
        await self._call(COPY_PATH, {"source": model.id, "destination": normalise(destination)}, source)

    async def _call(self, path: str, body: dict[str, Any], name: str) -> None:
        try:
            await self.upstream.post_json(path, body)
        except UpstreamRejected as exc:
            if exc.status == 404:
                raise ModelNotFoundError(name) from exc
            raise
        await self.upstream.models(refresh=True)
