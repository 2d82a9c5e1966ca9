"""The server's engine, seen through the metrics: a thin `Engine` wrapper around `generate`'s delta stream."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    Engine,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)
from frontier.metrics.record import TokenClock, current_record, error_kind


class MeteredEngine:
    """Delegates everything to `inner`; while a request's deltas pass, observes time to first token,
    inter-token latency and tokens, and tells the request's record the model and usage."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name

    async def load(self) -> None:
        await self.inner.load()

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    async def tokenize(self, model: str, text: str) -> list[int]:
        return await self.inner.tokenize(model, text)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        result = await self.inner.embed(request)
        record = current_record()
        if record is not None:  # prompt tokens count as for a generation; there are no completion tokens
            record.add_usage(request.model, result.prompt_tokens, 0, 0.0)
        return result

    async def health(self) -> EngineHealth:
        return await self.inner.health()

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> object:
        # Adapter-specific attributes (load_seconds, isq, ...) stay readable through the wrapper.
        return getattr(self.inner, name)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        record = current_record()
        stream = self.inner.generate(request)
        if record is None:  # not under the middleware (direct use in tests, benchmarks): no metrics
            try:
                async for delta in stream:
                    yield delta
            finally:
                await stream.aclose()
            return
        clock: TokenClock | None = None
        try:
            async for delta in stream:
                if clock is None:  # the engine accepted the request, so request.model is a served id
                    record.model = request.model
                    clock = TokenClock(record.metrics, request.model, record.started or time.perf_counter())
                if delta.usage is not None:
                    u = delta.usage
                    record.add_usage(request.model, u.prompt_tokens, u.completion_tokens, u.completion_seconds)
                elif delta.text or delta.reasoning or delta.tool_calls:
                    clock.tick()
                yield delta
        except Exception as exc:
            record.error_kind = record.error_kind or error_kind(exc)
            raise
        finally:
            await stream.aclose()
