"""What every engine that serves one local model does the same way: the load wrapper that keeps the failure
for /health, the model list of one, name resolution, the memory check before loading, and the clamp of
max_tokens to what the context leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frontier.config import Settings
from frontier.engine.protocol import ModelInfo
from frontier.errors import ContextLengthError, EngineUnavailableError, ModelLoadError, ModelNotFoundError


class SingleModel:
    """Base of the mistral.rs and llama.cpp adapters: `_load_sync` (run in a worker thread) sets `_info`."""

    def __init__(self) -> None:
        self._info: ModelInfo | None = None
        self._load_error = ""
        self.load_seconds = 0.0

    async def load(self) -> None:
        try:
            await asyncio.to_thread(self._load_sync)
        except ModelLoadError as exc:
            self._load_error = str(exc)  # what /health says until a load succeeds
            raise

    def _load_sync(self) -> None:
        raise NotImplementedError

    def models(self) -> list[ModelInfo]:
        return [self._info] if self._info else []

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise EngineUnavailableError(f"no model is loaded: {self._load_error or 'still loading'}")
        return self._info

    def _resolve(self, model: str, *aliases: str) -> ModelInfo:
        info = self.info
        if model != info.id and model not in aliases:
            raise ModelNotFoundError(model)
        return info


def check_memory(path: Path, size_bytes: int, settings: Settings, advice: str = "") -> None:
    """A model whose weights alone exceed MISTRAL_MEMORY_LIMIT is refused before the engine tries."""
    if size_bytes > settings.memory_limit_bytes:
        raise ModelLoadError(
            f"model {path.name} needs at least {size_bytes / 2**30:.1f} GiB, over "
            f"MISTRAL_MEMORY_LIMIT={settings.mistral_memory_limit}{advice}"
        )


def clamp_max_tokens(wanted: int | None, prompt: int, ctx: int, *, estimated: bool = False) -> int:
    """The tokens a generation may add. A prompt that fills the context is refused; a max_tokens larger than
    what the context leaves is clamped, not refused (issue 8): the answer then ends with finish_reason
    "length" where the context is full."""
    if prompt >= ctx:
        about = "about " if estimated else ""
        raise ContextLengthError(
            f"This model's maximum context length is {ctx} tokens; the prompt has {about}{prompt} tokens.",
            prompt_tokens=prompt, limit=ctx,
        )
    return ctx - prompt if wanted is None else min(wanted, ctx - prompt)
