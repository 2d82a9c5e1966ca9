"""The Ollama API's model source on a Ray Serve ingress: the engine replicas' models, read through the handle.
Model management stays with each machine's models folder (`frontier models` there): pull, delete and copy are
refused here with the reason, load/unload are left to the replicas' own keep_alive."""

from __future__ import annotations

from pathlib import Path

from frontier.cluster.handle_engine import HandleEngine
from frontier.models.catalog import Catalog
from frontier.ollama.answer import Stream
from frontier.ollama.api import NotSupportedError
from frontier.ollama.metadata import UpstreamModel

_NOT_HERE = ("is not offered on a Ray Serve cluster: each machine serves the models of its own models folder "
             "(`frontier models download` there, then redeploy)")


class ClusterModels:
    def __init__(self, engine: HandleEngine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog

    async def models(self, *, refresh: bool = False) -> list[UpstreamModel] | None:
        if refresh or not self.engine.models():
            await self.engine.load()
        out = []
        for m in self.engine.models():
            known = self.catalog.by_filename(Path(m.path).name) if m.path and not m.alias_of else None
            names = tuple(known.entry.aliases) if known and known.file == known.entry.file_for() else ()
            out.append(UpstreamModel.from_model_info(m, names, known.entry.name if known else None))
        return out

    async def count_tokens(self, model_id: str, text: str) -> int | None:
        return len(await self.engine.tokenize(model_id, text))

    async def set_loaded(self, model: UpstreamModel, keep_alive: float | None) -> None:
        return None

    async def pull(self, name: str, target: str | None) -> Stream:
        raise NotSupportedError(f"pulling {_NOT_HERE}")

    async def delete(self, model: UpstreamModel, name: str) -> None:
        raise NotSupportedError(f"deleting {_NOT_HERE}")

    async def copy(self, model: UpstreamModel, source: str, destination: str) -> None:
        raise NotSupportedError(f"copying {_NOT_HERE}")
