"""The Engine protocol over HTTP: another OpenAI-compatible server (another Frontier, vLLM, llama-server,
a hosted API) as the engine behind every dialect. What `frontier proxy` serves with.

Faults keep their shape: an upstream that is down, slow or cut mid-stream raises UpstreamError (502/503, or the
dialect's error event once a stream has begun); a refusal raises UpstreamRejected with the upstream's status,
404 as ModelNotFoundError.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncGenerator

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)
from frontier.engine.remote import translate
from frontier.engine.remote.faults import UpstreamError, UpstreamRejected
from frontier.engine.remote.upstream import Upstream
from frontier.errors import FrontierError, InvalidRequestError, ModelNotFoundError


class TokenizerUnavailable(InvalidRequestError):
    """The upstream offers no tokenizer (no /tokenize route): nothing here can count exactly."""

    def __init__(self) -> None:
        super().__init__("the upstream server offers no tokenizer (no /tokenize route) to count tokens with",
                         param="model", code="tokenizer_unavailable")


class RemoteEngine:
    name = "remote"

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def load(self) -> None:
        with contextlib.suppress(FrontierError):  # an upstream that starts later is met by the first request
            await self.upstream.models(refresh=True)

    def models(self) -> list[ModelInfo]:
        return [translate.model_info(entry) for entry in self.upstream.cached_models or []]

    def extended(self, model: str) -> bool:
        """The upstream lists `model` with Frontier's extension fields (it takes the extension request fields)."""
        return any(entry["id"] == model and translate.extended(entry) for entry in self.upstream.cached_models or [])

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        path, body = translate.request_body(request, extensions=self.extended(request.model))
        try:
            events = await self.upstream.open_stream(path, body)
        except UpstreamRejected as exc:
            if exc.status == 404:
                raise ModelNotFoundError(request.model) from exc
            raise
        reader = translate.ChunkReader()
        try:
            async for event in events.events():
                for d in reader.read(event):
                    yield d
            if not events.completed and not reader.finished:
                raise UpstreamError("upstream closed the stream before it finished")
            yield reader.end()
        finally:
            await events.aclose()

    async def tokenize(self, model: str, text: str) -> list[int]:
        """Only the count is known over HTTP: a list of that many zeros (callers count tokens)."""
        count = await self.upstream.count_tokens(model, text)
        if count is None:
            raise TokenizerUnavailable()
        return [0] * count

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        body = translate.embeddings_body(request.model, request.inputs,
                                         request.truncate if self.extended(request.model) else None)
        try:
            response = await self.upstream.post_json(translate.EMBEDDINGS_PATH, body)
        except UpstreamRejected as exc:
            if exc.status in (404, 405, 501):  # the model is listed, so the upstream lacks the endpoint
                raise InvalidRequestError(f'"{request.model}" does not support embeddings', param="model") from exc
            raise
        try:
            data = sorted(response.get("data") or [], key=lambda item: item.get("index", 0))
            vectors = [_unit([float(x) for x in item["embedding"]]) for item in data]
            prompt_tokens = int((response.get("usage") or {}).get("prompt_tokens") or 0)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise UpstreamError("upstream sent unreadable embeddings") from None
        if len(vectors) != len(request.inputs):
            raise UpstreamError("upstream returned no embeddings" if not vectors else
                                f"upstream returned {len(vectors)} embeddings for {len(request.inputs)} inputs")
        return Embeddings(vectors, prompt_tokens)

    async def health(self) -> EngineHealth:
        try:
            await self.upstream.models()
        except FrontierError as exc:
            return EngineHealth(ok=False, reason=str(exc), device="remote")
        return EngineHealth(ok=True, device="remote")

    async def close(self) -> None:
        await self.upstream.aclose()


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm > 0 else vector
