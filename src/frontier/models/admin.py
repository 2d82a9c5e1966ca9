"""Deleting and copying models in the models folder, for every API that offers it (Frontier's
`/frontier/models/...` extension, Ollama's `/api/delete` and `/api/copy`). Errors are FrontierErrors each
dialect renders in its own shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frontier.engine.pool import EnginePool
from frontier.errors import DownloadError, InvalidRequestError, ModelLoadError
from frontier.models.aliases import check_alias, update_aliases
from frontier.models.download import safe_target
from frontier.models.registry import ModelSpec, remove_model


def check_inside(models_path: Path, name: str) -> None:
    """A name resolving outside the models folder (`..`, absolute, a symlink leading out) is a 400."""
    try:
        safe_target(models_path, name)
    except DownloadError:
        raise InvalidRequestError(f"{name!r} is not a name inside the models folder", param="model") from None


async def delete_model(pool: EnginePool, name: str) -> list[str]:
    """Removes a model file (or alias) and unloads it; what was removed (empty: nothing of that name)."""
    models_path = pool.registry.models_path
    if name not in pool.registry.aliases():
        check_inside(models_path, name)
        try:
            spec: ModelSpec | None = pool.registry.resolve(name)
        except ModelLoadError:
            spec = None  # present but damaged: never loaded, and deleting it is the cure
        if spec is not None and spec == pool.registry.configured:
            # The configured model is MISTRAL_MODEL_ID: deleting it would break the next start.
            raise InvalidRequestError(
                f"{name} is the configured model (MISTRAL_MODEL_ID); configure another one first",
                param="model", code="model_in_use",
            )
        if spec is not None:
            await pool.forget(spec.id)
    return await asyncio.to_thread(remove_model, models_path, name)


async def copy_model(pool: EnginePool, source: str, destination: str) -> str:
    """Adds `destination` as a name of `source`'s model; returns that model's id."""
    destination = check_alias(destination)
    spec = pool.registry.resolve(source)
    if any(s.id == destination for s, _ in pool.registry.entries()):
        raise InvalidRequestError(f"a model named {destination!r} already exists", param="destination",
                                  code="model_exists")
    await asyncio.to_thread(update_aliases, pool.registry.models_path,
                            lambda table: table.__setitem__(destination, spec.id))
    return spec.id
