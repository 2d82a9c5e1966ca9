"""Frontier's model-management extension of the server (`/frontier/models/...`): load, unload, pull, delete,
copy. The Ollama API maps `/api/pull`, `/api/delete`, `/api/copy` and keep_alive onto these; any client may
call them. Errors are OpenAI error objects like the rest of this server; a pull that fails after its stream
began ends with an `{"error": ...}` line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from frontier.engine.pool import EnginePool
from frontier.models.admin import copy_model, delete_model
from frontier.models.aliases import check_alias
from frontier.models.catalog import Catalog
from frontier.models.pull import plan_pull, pull_events
from frontier.openai.body import StrictJSONRoute


class LoadRequest(BaseModel):
    model: str = Field(min_length=1)
    keep_alive: float | None = None  # seconds; negative = until evicted


class ModelRequest(BaseModel):
    model: str = Field(min_length=1)


class PullRequest(BaseModel):
    model: str = Field(min_length=1, description="catalog or Ollama name, file name, hf.co/owner/repo, or URL")
    insecure: bool = False  # allow plain-HTTP sources that are not on loopback


class CopyRequest(BaseModel):
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


def _ndjson(lines: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async def encode() -> AsyncIterator[bytes]:
        async for line in lines:
            yield json.dumps(line, separators=(",", ":")).encode() + b"\n"

    return encode()


def build_registry_router(pool: EnginePool, catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/frontier/models", tags=["model management (Frontier extension)"],
                       route_class=StrictJSONRoute)
    models_path = pool.registry.models_path

    @router.post("/load")
    async def load(body: LoadRequest) -> dict[str, Any]:
        info = await pool.ensure_loaded(body.model, body.keep_alive)
        return {"model": body.model, "id": info.id, "loaded": True, "expires_at": info.expires_at}

    @router.post("/unload")
    async def unload(body: ModelRequest) -> dict[str, Any]:
        return {"model": body.model, "unloaded": await pool.unload(body.model)}

    @router.post("/pull", response_model=None, responses={200: {
        "description": "Progress lines (NDJSON)", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
    async def pull(body: PullRequest) -> StreamingResponse:
        # Planned before the first byte: an unknown name or a refused source is a real 4xx, not a stream line.
        plan = await asyncio.to_thread(plan_pull, body.model, catalog, models_path, insecure=body.insecure)
        return StreamingResponse(_ndjson(pull_events(plan)), media_type="application/x-ndjson")

    @router.post("/delete")
    async def delete(body: ModelRequest) -> dict[str, Any]:
        return {"model": body.model, "deleted": await delete_model(pool, body.model)}

    @router.post("/copy")
    async def copy(body: CopyRequest) -> dict[str, Any]:
        model_id = await copy_model(pool, body.source, body.destination)
        return {"source": body.source, "destination": check_alias(body.destination), "id": model_id}

    return router
