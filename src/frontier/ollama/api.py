"""The Ollama capability, HTTP-free: Ollama requests in, Ollama answers (objects or line streams) out.

Every inference call follows one path: check the request, resolve the model, apply the context budget,
translate to the Engine protocol, call the engine, translate its deltas back. The engine is this process's
pool (`frontier run`) or an upstream spoken to over HTTP (`frontier proxy`); the same code serves both. Streams
are started before they are returned, so a refusal is an HTTP error and only faults after the first byte
become an `{"error"}` line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from frontier.engine.protocol import Delta, EmbeddingRequest, Engine, GenerationRequest
from frontier.errors import FrontierError, InvalidRequestError, ModelNotFoundError
from frontier.ollama import context, metadata, translate
from frontier.ollama.answer import Answer, Stream, listed, nothing
from frontier.ollama.clock import Stopwatch, nanos, parse_keep_alive
from frontier.ollama.metadata import UpstreamModel
from frontier.ollama.names import ModelMap, normalise
from frontier.ollama.options import Sampling, ignored_options, parse_options
from frontier.ollama.responses import Gathered, Kind, StreamState, empty_response
from frontier.ollama.source import ModelSource, keep_alive_seconds
from frontier.ollama.wire import ChatRequest, EmbeddingsRequest, EmbedRequest, GenerateRequest
from frontier.serving.start import chained, start

log = logging.getLogger("frontier.ollama")


class NotSupportedError(FrontierError):
    """A part of the Ollama API this server does not offer (rendered as 501)."""


class OllamaAPI:
    def __init__(self, engine: Engine, source: ModelSource, names: ModelMap) -> None:
        self.engine = engine
        self.source = source
        self.names = names

    # --- models -------------------------------------------------------------------------------------
    async def lookup(self, name: str) -> UpstreamModel:
        """The upstream model serving Ollama name `name`; ModelNotFoundError (404) when none does."""
        if not name:
            raise InvalidRequestError("model is required", param="model")
        served = await self.source.models()
        if served is None:
            return UpstreamModel(id=self.names.resolve(name, None) or name)
        found = self._match(name, served)
        if found is None:  # a model may have appeared since the cache was filled
            found = self._match(name, await self.source.models(refresh=True) or [])
        if found is None:
            raise ModelNotFoundError(name)
        return found

    def _match(self, name: str, served: list[UpstreamModel]) -> UpstreamModel | None:
        upstream_id = self.names.resolve(name, [model.id for model in served])
        found = next((model for model in served if model.id == upstream_id), None)
        if found is None:  # names the upstream's catalog gives its files (a pulled `mistral:latest`)
            wanted, target = normalise(name), (self.names.target(name) or "").lower()
            found = next((model for model in served if wanted in model.ollama_names
                          or (target and (model.catalog_name or "").lower() == target)), None)
        return found

    async def listing(self, *, refresh: bool = False) -> list[tuple[str, UpstreamModel]]:
        """(Ollama name, model) for every served model, newest first."""
        served = await self.source.models(refresh=refresh) or []
        ordered = sorted(served, key=lambda model: model.created, reverse=True)
        return [(name, model) for model in ordered for name in self._names(model)]

    def _names(self, model: UpstreamModel) -> list[str]:
        mapped = self.names.names_for(model.id)
        return mapped + [name for name in model.ollama_names if name not in mapped]

    async def tags(self) -> dict[str, Any]:
        return {"models": [metadata.tag_entry(name, model) for name, model in await self.listing()]}

    async def ps(self) -> dict[str, Any]:
        """The loaded models, read fresh: a swap or an unload a moment ago must show."""
        loaded = [(name, model) for name, model in await self.listing(refresh=True) if model.loaded is not False]
        return {"models": [metadata.ps_entry(name, model) for name, model in loaded]}

    async def show(self, name: str) -> dict[str, Any]:
        return metadata.show_response(await self.lookup(name))

    async def pull(self, name: str, stream: bool) -> Answer:
        """Fetches a model through the upstream's registry; elsewhere a model already served is 'pulled'."""
        if not name:
            raise InvalidRequestError("model is required", param="model")
        served = await self.source.models(refresh=True) or []
        if any(model.manageable for model in served):
            answer = await self.source.pull(name, self.names.target(name))
            return answer if stream else await _last_line(answer)
        try:
            model = await self.lookup(name)
        except ModelNotFoundError:
            raise NotSupportedError(
                f"pulling '{name}' is not supported by this upstream: it serves the models it has loaded "
                "(see /api/tags)"
            ) from None
        if not stream:
            return {"status": "success"}
        digest = "sha256:" + metadata.digest(model)
        lines: list[dict[str, Any]] = [
            {"status": "pulling manifest"},
            {"status": f"pulling {digest[7:19]}", "digest": digest, "total": model.size_bytes,
             "completed": model.size_bytes},
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]  # fmt: skip
        return Stream(listed(lines), nothing)

    async def delete(self, name: str) -> None:
        model = await self.lookup(name)
        if not model.manageable:
            raise NotSupportedError("deleting models is not supported by this upstream")
        await self.source.delete(model, name)

    async def copy(self, source: str, destination: str) -> None:
        if not destination:
            raise InvalidRequestError("destination is required", param="destination")
        model = await self.lookup(source)
        if not model.manageable:
            raise NotSupportedError("copying models is not supported by this upstream; add a name to "
                                    "FRONTIER_MODEL_MAP")
        await self.source.copy(model, source, destination)

    # --- inference ----------------------------------------------------------------------------------
    async def chat(self, req: ChatRequest, watch: Stopwatch) -> Answer:
        sampling, keep_alive = self._checked(req.options, req.keep_alive)
        translate.to_grammar(req.format)
        model = await self.lookup(req.model)
        self._require(model, req.model, "thinking", bool(req.think))
        self._require(model, req.model, "tools", bool(req.tools))
        self._require(model, req.model, "vision", any(message.images for message in req.messages))
        if not req.messages:
            await self.source.set_loaded(model, keep_alive)
            return empty_response("chat", req.model, "unload" if keep_alive == 0 else "load")
        messages = translate.to_openai_messages(req.messages)
        if self._budgeted(sampling, model):
            counts = await self._count(model, [context.message_text(m) for m in messages])
            messages, max_tokens = context.fit_messages(messages, counts, sampling.num_ctx or 0, sampling.max_tokens)
            sampling = replace(sampling, max_tokens=max_tokens)
        call = translate.chat_request(req, model.id, sampling, keep_alive=_keep_alive(model, keep_alive),
                                      messages=messages)
        return await self._call(call, "chat", req.model, req.streaming, watch)

    async def generate(self, req: GenerateRequest, watch: Stopwatch) -> Answer:
        sampling, keep_alive = self._checked(req.options, req.keep_alive)
        translate.check_generate(req)
        translate.to_grammar(req.format)
        model = await self.lookup(req.model)
        self._require(model, req.model, "thinking", bool(req.think))
        self._require(model, req.model, "insert", bool(req.suffix))
        self._require(model, req.model, "vision", bool(req.images))
        if not req.prompt and not req.suffix and not req.images:
            await self.source.set_loaded(model, keep_alive)
            return empty_response("generate", req.model, "unload" if keep_alive == 0 else "load")
        plain = req.raw or bool(req.suffix)
        if self._budgeted(sampling, model):
            text = "\n".join(filter(None, [req.system, req.prompt, req.suffix]))
            [count] = await self._count(model, [text])
            overhead = 0 if plain else 2 * context.MESSAGE_OVERHEAD
            max_tokens = context.fit_prompt(count + overhead, sampling.num_ctx or 0, sampling.max_tokens)
            sampling = replace(sampling, max_tokens=max_tokens)
        elif plain and sampling.max_tokens is None and model.context_length:
            # The completions API caps an absent max_tokens at 16; Ollama's default runs to the end of the
            # context. The count is padded by half: an estimate must not push prompt + max_tokens past it.
            [count] = await self._count(model, [req.prompt + req.suffix])
            sampling = replace(sampling, max_tokens=context.fit_prompt(count * 3 // 2, model.context_length, None))
        call = translate.generate_request(req, model.id, sampling, keep_alive=_keep_alive(model, keep_alive))
        return await self._call(call, "generate", req.model, req.streaming, watch)

    async def embed(self, req: EmbedRequest, watch: Stopwatch) -> dict[str, Any]:
        parse_options(req.options)
        keep_alive = parse_keep_alive(req.keep_alive)
        model = await self.lookup(req.model)
        inputs = req.inputs
        if not inputs or inputs == [""]:
            return {"model": req.model, "embeddings": []}
        result = await self._embeddings(model, req.model, inputs, watch, req.truncate is not False, keep_alive)
        width = len(result.vectors[0]) if result.vectors else 0
        if req.dimensions is not None and req.dimensions > width:
            raise InvalidRequestError(f"dimensions: this model's vectors have {width} dimensions, not "
                                      f"{req.dimensions}", param="dimensions")
        return {
            "model": req.model,
            "embeddings": [_shortened(vector, req.dimensions) for vector in result.vectors],
            "total_duration": nanos(_elapsed(watch)),
            "load_duration": nanos(watch.upstream_start - watch.start),
            "prompt_eval_count": result.prompt_tokens,
        }

    async def embeddings(self, req: EmbeddingsRequest, watch: Stopwatch) -> dict[str, Any]:
        """The legacy endpoint: one prompt, one vector."""
        parse_options(req.options)
        keep_alive = parse_keep_alive(req.keep_alive)
        model = await self.lookup(req.model)
        if not req.prompt:
            return {"embedding": []}
        result = await self._embeddings(model, req.model, [req.prompt], watch, True, keep_alive)
        return {"embedding": result.vectors[0]}

    # --- helpers ------------------------------------------------------------------------------------
    @staticmethod
    def _checked(options: dict[str, Any] | None, keep_alive: float | str | None) -> tuple[Sampling, float | None]:
        sampling = parse_options(options)
        if ignored := ignored_options(options):
            log.debug("ignoring options with no effect here: %s", ", ".join(ignored))
        return sampling, parse_keep_alive(keep_alive)

    @staticmethod
    def _require(model: UpstreamModel, name: str, capability: str, wanted: bool) -> None:
        # Only a model that says what it can do is held to it; an unknown upstream gets to answer itself.
        if wanted and model.supports(capability) is False:
            raise InvalidRequestError(f'"{name}" does not support {capability}', param=capability)

    @staticmethod
    def _budgeted(sampling: Sampling, model: UpstreamModel) -> bool:
        """num_ctx at or above the model's own window changes nothing: the upstream enforces that one."""
        num_ctx = sampling.num_ctx
        return num_ctx is not None and (model.context_length is None or num_ctx < model.context_length)

    async def _count(self, model: UpstreamModel, texts: list[str]) -> list[int]:
        if model.extended:
            counts = [await self.source.count_tokens(model.id, text) for text in texts]
            if all(count is not None for count in counts):
                return [int(count or 0) for count in counts]
        return [context.estimate_tokens(text) for text in texts]

    async def _call(self, call: GenerationRequest, kind: Kind, name: str, stream: bool, watch: Stopwatch) -> Answer:
        watch.mark_upstream()
        call.whole = not stream
        try:
            first, deltas = await start(self.engine, call)  # before any byte: a refusal is a real status
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(name) from exc
        if not stream:
            gathered = Gathered()
            try:
                async for d in chained(first, deltas):
                    gathered.add(d)
            finally:
                await deltas.aclose()
            return gathered.response(kind, name, watch)
        return Stream(_lines(first, deltas, StreamState(kind, name, watch)), deltas.aclose)

    async def _embeddings(self, model: UpstreamModel, name: str, inputs: list[str], watch: Stopwatch,
                          truncate: bool, keep_alive: float | None) -> Any:
        # No capability check here: a chat model embeds too on Frontier's llama.cpp engine (as in Ollama, whose
        # /api/show lists no "embedding" for it); the engine answers for each model.
        watch.mark_upstream()
        request = EmbeddingRequest(model=model.id, inputs=inputs, truncate=truncate,
                                   keep_alive=_keep_alive(model, keep_alive))
        try:
            return await self.engine.embed(request)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(name) from exc


async def _lines(first: Delta | None, deltas: AsyncGenerator[Delta, None],
                 state: StreamState) -> AsyncIterator[dict[str, Any]]:
    try:
        try:
            async for d in chained(first, deltas):
                for line in state.absorb(d):
                    yield line
            final = state.finish()
        except FrontierError as exc:
            log.warning("stream for %s ended with an error: %s", state.model, exc)
            yield {"error": str(exc)}
            return
        for line in final:
            yield line
    finally:
        await deltas.aclose()


def _keep_alive(model: UpstreamModel, keep_alive: float | None) -> float | None:
    """The engines' keep_alive seconds, where the model's engine manages loading (else nothing to send)."""
    return keep_alive_seconds(keep_alive) if model.manageable else None


async def _last_line(answer: Stream) -> dict[str, Any]:
    """A non-streamed pull: Ollama answers with the final line only (success, or the error)."""
    last: dict[str, Any] = {}
    try:
        async for line in answer.lines:
            last = line
    finally:
        await answer.aclose()
    return last


def _shortened(vector: list[float], dimensions: int | None) -> list[float]:
    """`dimensions`: the first n components, scaled back to unit length (as OpenAI shortens)."""
    if dimensions is None or dimensions >= len(vector):
        return vector
    head = vector[:dimensions]
    norm = sum(value * value for value in head) ** 0.5
    return [value / norm for value in head] if norm > 0 else head


def _elapsed(watch: Stopwatch) -> float:
    return time.perf_counter() - watch.start
