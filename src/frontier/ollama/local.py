"""The models of this process's engine pool, for the Ollama capability served in-process (`frontier run`):
listing, token counts, load/unload, pull, delete and copy call the pool and the models folder directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frontier.engine.pool import EnginePool
from frontier.engine.protocol import Engine
from frontier.models.admin import copy_model, delete_model
from frontier.models.catalog import Catalog
from frontier.models.pull import plan_pull, pull_events
from frontier.ollama.answer import Stream, nothing
from frontier.ollama.metadata import UpstreamModel
from frontier.ollama.names import normalise
from frontier.ollama.source import keep_alive_seconds, progress


class LocalModels:
    def __init__(self, pool: EnginePool, engine: Engine, catalog: Catalog) -> None:
        self.pool = pool
        self.engine = engine  # the pool as the dialects see it (limits, metrics)
        self.catalog = catalog

    async def models(self, *, refresh: bool = False) -> list[UpstreamModel] | None:
        out = []
        for m in self.pool.models():
            known = self.catalog.by_filename(Path(m.path).name) if m.path and not m.alias_of else None
            names: tuple[str, ...] = ()
            if known is not None and known.file == known.entry.file_for():
                names = tuple(known.entry.aliases)
            out.append(UpstreamModel.from_model_info(m, names, known.entry.name if known else None))
        return out

    async def count_tokens(self, model_id: str, text: str) -> int | None:
        return len(await self.engine.tokenize(model_id, text))

    async def set_loaded(self, model: UpstreamModel, keep_alive: float | None) -> None:
        if keep_alive == 0:
            await self.pool.unload(model.id)
        else:
            await self.pool.ensure_loaded(model.id, keep_alive_seconds(keep_alive))

    async def pull(self, name: str, target: str | None) -> Stream:
        # Planned before the first line: an unknown name or a refused source is a real 4xx, not a stream line.
        plan = await asyncio.to_thread(plan_pull, target or name, self.catalog, self.pool.registry.models_path)
        return Stream(progress(pull_events(plan)), nothing)

    async def delete(self, model: UpstreamModel, name: str) -> None:
        await delete_model(self.pool, model.id)

    async def copy(self, model: UpstreamModel, source: str, destination: str) -> None:
        await copy_model(self.pool, model.id, normalise(destination))
