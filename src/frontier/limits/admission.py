"""Admission in front of any Engine: a bounded number of generations at once, never an unbounded queue.

The engine runs `slots` generations and makes the rest wait for a slot; here at most `max_queue` may wait.
A request beyond `slots + max_queue` is refused at once with OverloadedError (429 + Retry-After on the server,
503 on the Ollama API). The bound lives here, not in an adapter, so every engine behind the protocol
(mistral.rs, llama.cpp, a test double) gets the same behaviour. The same wrapper applies the request-size
limits and FRONTIER_MAX_TOKENS, which do not depend on the engine either.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    Engine,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)
from frontier.errors import OverloadedError
from frontier.limits.policy import Limits, capped_max_tokens, check_messages, check_prompt


class Admission:
    """Counts admitted generations (running or waiting for a slot). Used from one event loop only."""

    def __init__(self, slots: int, max_queue: int, retry_after: float = 2.0) -> None:
        self.capacity = slots + max_queue
        self.retry_after = retry_after
        self.active = 0

    def enter(self) -> None:
        if self.active >= self.capacity:
            raise OverloadedError(
                f"the server is busy: {self.active} requests are running or queued (the limit is "
                f"{self.capacity}: MISTRAL_MAX_BATCH_SIZE + FRONTIER_MAX_QUEUE); retry shortly",
                retry_after=self.retry_after,
            )
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


class LimitedEngine:
    """An Engine that checks a request's size, caps its max_tokens and admits it before `inner` sees it."""

    def __init__(self, inner: Engine, limits: Limits) -> None:
        self.inner = inner
        self.name = inner.name
        self.limits = limits
        self.admission = Admission(limits.slots, limits.max_queue, limits.retry_after)

    async def load(self) -> None:
        await self.inner.load()

    def models(self) -> list[ModelInfo]:
        return self.inner.models()

    async def tokenize(self, model: str, text: str) -> list[int]:
        return await self.inner.tokenize(model, text)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        return await self.inner.embed(request)

    async def health(self) -> EngineHealth:
        return await self.inner.health()

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> object:
        # Adapter-specific attributes (load_seconds, isq, ...) stay readable through the wrapper.
        return getattr(self.inner, name)

    def checked(self, request: GenerationRequest) -> GenerationRequest:
        """The request as the engine gets it; InvalidRequestError (400) when it is over a size limit."""
        if request.messages is not None:
            check_messages(self.limits, request.messages)
        elif request.prompt is not None:
            check_prompt(self.limits, 1, len(request.prompt), param="prompt")
        wanted = request.params.max_tokens
        capped = capped_max_tokens(self.limits, wanted)
        if capped == wanted:
            return request
        return replace(request, params=replace(request.params, max_tokens=capped))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        request = self.checked(request)
        self.admission.enter()
        try:
            stream = self.inner.generate(request)
            try:
                async for delta in stream:
                    yield delta
            finally:
                await stream.aclose()
        finally:
            self.admission.leave()
