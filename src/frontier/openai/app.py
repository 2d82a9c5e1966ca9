"""Builds the OpenAI-compatible FastAPI app from settings and an engine. No module-level state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from frontier import __version__
from frontier.engine.protocol import Engine
from frontier.errors import ModelLoadError
from frontier.openai import errors
from frontier.openai.routes import build_router

log = logging.getLogger("frontier.server")


def create_app(engine: Engine, *, load_on_start: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if load_on_start:
            try:
                await engine.load()
            except ModelLoadError as exc:
                # Keep serving: /health answers 503 with this reason instead of the process dying silently.
                log.error("model load failed: %s", exc)
        yield
        await engine.close()

    app = FastAPI(
        title="Frontier OpenAI-compatible API",
        version=__version__,
        lifespan=lifespan,
        description="OpenAI-compatible inference on the mistral.rs engine.",
    )
    errors.install(app)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse(errors.error_body(f"internal error: {type(exc).__name__}", "server_error"), 500)

    app.include_router(build_router(engine))
    app.state.engine = engine
    return app
