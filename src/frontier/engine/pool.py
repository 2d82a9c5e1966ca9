"""Many models behind one Engine: the registry's models are loaded on demand, at most
MISTRAL_MAX_LOADED_MODELS at once, the least recently used idle one unloaded first (as Ollama does).

Each loaded model is its own single-model engine (`EngineFactory`). A model in use is never unloaded under a
request: a request holds its model from the first delta to the last, and eviction waits for an idle one.
`keep_alive` (seconds; negative = forever; 0 = unload once idle) sets when an idle model expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, replace

from frontier.engine.choice import EMBEDDING_ARCHITECTURES
from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    Engine,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)
from frontier.errors import ModelLoadError, OverloadedError
from frontier.models.registry import ModelRegistry, ModelSpec, RegistryEntry

log = logging.getLogger("frontier.engine")

EngineFactory = Callable[[ModelSpec], Engine]
_REAP_INTERVAL = 1.0
_EVICTION_WAIT = 300.0  # longest a request waits for a busy model to become unloadable


@dataclass(slots=True)
class _Loaded:
    engine: Engine
    spec: ModelSpec
    users: int = 0
    expires_at: float = math.inf  # unix time; inf = until evicted
    loaded_at: float = field(default_factory=time.time)


class EnginePool:
    """Implements the Engine protocol over a registry of models; see the module docstring."""

    name = "pool"

    def __init__(self, registry: ModelRegistry, factory: EngineFactory, *, max_loaded: int = 1,
                 memory_limit: int | None = None, device: str = "cpu") -> None:
        self.registry = registry
        self._factory = factory
        self._max_loaded = max_loaded
        self._memory_limit = memory_limit
        self._device = device
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()  # LRU first
        self._lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self._started = False
        self._load_error = ""

    # --- lifecycle ----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Loads the configured model (if any) so the server is ready at start; starts the expiry reaper."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap())
        try:
            if self.registry.configured is not None:
                await self._acquire(self.registry.configured, None)
                self._release(self.registry.configured.id)
        except ModelLoadError as exc:
            self._load_error = str(exc)
            raise
        finally:
            self._started = True

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for loaded in list(self._loaded.values()):
            await loaded.engine.close()
        self._loaded.clear()

    # --- queries ------------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """Every registered model (loaded ones described by their engine) and every alias."""
        infos: dict[str, ModelInfo] = {}
        for spec, entry in self.registry.entries():
            loaded = self._loaded.get(spec.id)
            infos[spec.id] = self._loaded_info(loaded) if loaded else _registry_info(spec, entry)
        for alias, target in self.registry.aliases().items():
            if target in infos and alias not in infos:
                infos[alias] = replace(infos[target], id=alias, alias_of=target)
        return list(infos.values())

    def loaded(self) -> list[ModelInfo]:
        return [self._loaded_info(loaded) for loaded in reversed(self._loaded.values())]

    @staticmethod
    def _loaded_info(loaded: _Loaded) -> ModelInfo:
        info = next((m for m in loaded.engine.models() if m.id == loaded.spec.id), None)
        if info is None:
            info = ModelInfo(id=loaded.spec.id, created=int(loaded.loaded_at), model_type=loaded.spec.model_type)
        return replace(info, loaded=True, loaded_at=loaded.loaded_at,
                       expires_at=None if math.isinf(loaded.expires_at) else loaded.expires_at)

    async def health(self) -> EngineHealth:
        if not self._loaded:
            if not self._started:
                return EngineHealth(ok=False, reason="still loading", device=self._device)
            if self._load_error:
                return EngineHealth(ok=False, reason=self._load_error, device=self._device)
            return EngineHealth(ok=True, reason="no model loaded; models load on demand", device=self._device)
        healths = [await loaded.engine.health() for loaded in self._loaded.values()]
        bad = next((h for h in healths if not h.ok), None)
        return EngineHealth(
            ok=bad is None, reason=bad.reason if bad else "", device=self._device,
            in_flight=sum(h.in_flight for h in healths), queued=sum(h.queued for h in healths),
            cpu_threads=max((h.cpu_threads for h in healths), default=0),
        )

    def _resolve(self, name: str) -> ModelSpec:
        """A loaded model by its id without touching the disk (the per-request path); else the registry,
        which lists the folder and reads the aliases."""
        loaded = self._loaded.get(name)
        return loaded.spec if loaded is not None else self.registry.resolve(name)

    async def tokenize(self, model: str, text: str) -> list[int]:
        spec = self._resolve(model)
        loaded = await self._acquire(spec, None)
        try:
            return await loaded.engine.tokenize(spec.id, text)
        finally:
            self._release(spec.id)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        spec = self._resolve(request.model)
        loaded = await self._acquire(spec, request.keep_alive)
        try:
            return await loaded.engine.embed(replace(request, model=spec.id))
        finally:
            self._release(spec.id)

    # --- generation ---------------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        spec = self._resolve(request.model)
        loaded = await self._acquire(spec, request.keep_alive)
        try:
            async for delta in loaded.engine.generate(replace(request, model=spec.id)):
                yield delta
        finally:
            self._release(spec.id)

    # --- loading and unloading ----------------------------------------------------------------------
    async def ensure_loaded(self, model: str, keep_alive: float | None = None) -> ModelInfo:
        """Loads `model` now (Ollama's empty-prompt load) and returns it as loaded."""
        spec = self.registry.resolve(model)
        loaded = await self._acquire(spec, keep_alive)
        self._release(spec.id)
        return self._loaded_info(loaded)

    async def unload(self, model: str) -> bool:
        """Unloads `model` now if idle, else as soon as its requests finish. False if it was not loaded."""
        spec = self.registry.resolve(model)
        loaded = self._loaded.get(spec.id)
        if loaded is None:
            return False
        loaded.expires_at = 0.0
        if loaded.users == 0:
            async with self._lock:
                await self._unload(spec.id)
        return True

    async def forget(self, model_id: str) -> None:
        """Unloads a model whose files are about to be deleted, waiting for its requests to finish."""
        async with self._lock:
            loaded = self._loaded.get(model_id)
            while loaded is not None and loaded.users:
                self._idle.clear()
                await asyncio.wait_for(self._idle.wait(), _EVICTION_WAIT)
            await self._unload(model_id)

    async def _acquire(self, spec: ModelSpec, keep_alive: float | None) -> _Loaded:
        loaded = self._loaded.get(spec.id)
        if loaded is None:
            async with self._lock:
                loaded = self._loaded.get(spec.id) or await self._load(spec)
        # No await between the lookup and taking a user: eviction (which pops before it awaits) cannot slip in,
        # and a request for a loaded model never queues behind another model's load.
        self._loaded.move_to_end(spec.id)
        loaded.users += 1
        if keep_alive is not None:
            loaded.expires_at = math.inf if keep_alive < 0 else time.time() + keep_alive
        elif loaded.expires_at != math.inf:
            loaded.expires_at = max(loaded.expires_at, time.time())  # in use now: not expired yet
        return loaded

    async def _load(self, spec: ModelSpec) -> _Loaded:
        """Called locked: makes room, then loads `spec`."""
        await self._make_room(spec)
        engine = self._factory(spec)
        try:
            await engine.load()
        except ModelLoadError:
            await engine.close()
            raise
        loaded = self._loaded[spec.id] = _Loaded(engine, spec)
        return loaded

    def _release(self, model_id: str) -> None:
        loaded = self._loaded.get(model_id)
        if loaded is None:
            return
        loaded.users -= 1
        if loaded.users == 0:
            self._idle.set()

    async def _make_room(self, incoming: ModelSpec) -> None:
        """Unloads idle models, least recently used first, until the incoming one fits (called locked)."""
        needed = self._size(incoming)
        deadline = time.monotonic() + _EVICTION_WAIT
        counted = not self._embeds(incoming)
        while self._loaded and ((counted and self._generators() >= self._max_loaded) or self._over_memory(needed)):
            short_of_memory = self._over_memory(needed)
            victim = next((key for key, item in self._loaded.items()
                           if item.users == 0 and (short_of_memory or not self._embeds(item.spec))), None)
            if victim is not None:
                await self._unload(victim)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OverloadedError("every loaded model is busy; try again shortly", retry_after=5)
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), remaining)

    def _embeds(self, spec: ModelSpec) -> bool:
        meta = self.registry.entry(spec).meta
        return meta is not None and meta.architecture in EMBEDDING_ARCHITECTURES

    def _generators(self) -> int:
        """Loaded models that count against MISTRAL_MAX_LOADED_MODELS (embedding models do not)."""
        return sum(1 for item in self._loaded.values() if not self._embeds(item.spec))

    def _over_memory(self, needed: int) -> bool:
        """MISTRAL_MEMORY_LIMIT bounds the weights held by all loaded models together."""
        if self._memory_limit is None:
            return False
        return sum(self._size(item.spec) for item in self._loaded.values()) + needed > self._memory_limit

    def _size(self, spec: ModelSpec) -> int:
        meta = self.registry.entry(spec).meta
        return meta.size_bytes if meta else 0

    async def _unload(self, model_id: str) -> None:
        loaded = self._loaded.pop(model_id, None)
        if loaded is not None:
            log.info("unloading %s", model_id)
            await loaded.engine.close()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(_REAP_INTERVAL)
            now = time.time()
            expired = [key for key, item in self._loaded.items() if item.users == 0 and item.expires_at <= now]
            if expired:
                async with self._lock:
                    for key in expired:
                        item = self._loaded.get(key)
                        if item is not None and item.users == 0 and item.expires_at <= now:
                            await self._unload(key)


def _registry_info(spec: ModelSpec, entry: RegistryEntry) -> ModelInfo:
    meta = entry.meta
    created = 0
    with contextlib.suppress(OSError):
        created = int(spec.path.stat().st_mtime)
    if meta is None:
        return ModelInfo(id=spec.id, created=created, model_type=spec.model_type, path=str(spec.path))
    return ModelInfo(
        id=spec.id, created=created, context_length=meta.context_length, architecture=meta.architecture,
        model_type=spec.model_type, quantization=meta.quantization, parameter_count=meta.parameter_count,
        path=str(spec.path), chat_template=meta.chat_template, size_bytes=meta.size_bytes,
        capabilities=["embedding"] if meta.architecture in EMBEDDING_ARCHITECTURES else ["completion", "tools"],
    )
