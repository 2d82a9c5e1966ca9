"""The Ollama capability, HTTP-free: Ollama requests in, Ollama answers (objects or line streams) out.

Every inference call follows one path: check the request, resolve the model, apply the context budget,
translate, call the upstream, translate back. Streams are opened before they are returned, so an upstream
refusal is an HTTP error and only faults after the first byte become an `{"error"}` line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from frontier.errors import FrontierError, InvalidRequestError, ModelNotFoundError
from frontier.ollama import context, manage, metadata, translate
from frontier.ollama.clock import Stopwatch, nanos, parse_keep_alive
from frontier.ollama.metadata import UpstreamModel
from frontier.ollama.names import ModelMap, normalise
from frontier.ollama.options import Sampling, ignored_options, parse_options
from frontier.ollama.responses import Kind, StreamState, empty_response, from_openai_response
from frontier.ollama.upstream import EventStream, Upstream, UpstreamError, UpstreamRejected
from frontier.ollama.wire import ChatRequest, EmbeddingsRequest, EmbedRequest, GenerateRequest

log = logging.getLogger("frontier.ollama")


class NotSupportedError(FrontierError):
    """A part of the Ollama API this server does not offer (rendered as 501)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """An opened stream of Ollama lines; `aclose` releases the upstream even if `lines` never ran."""

    lines: AsyncIterator[dict[str, Any]]
    aclose: Callable[[], Awaitable[None]]


Answer = dict[str, Any] | Stream


class OllamaLayer:
    def __init__(self, upstream: Upstream, names: ModelMap) -> None:
        self.upstream = upstream
        self.names = names

    # --- models -------------------------------------------------------------------------------------
    async def lookup(self, name: str) -> UpstreamModel:
        """The upstream model serving Ollama name `name`; ModelNotFoundError (404) when none does."""
        if not name:
            raise InvalidRequestError("model is required", param="model")
        served = await self.upstream.models()
        if served is None:
            return UpstreamModel(id=self.names.resolve(name, None) or name)
        found = self._match(name, served)
        if found is None:  # a model may have appeared since the cache was filled
            found = self._match(name, await self.upstream.models(refresh=True) or [])
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
        served = await self.upstream.models(refresh=refresh) or []
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
        served = await self.upstream.models(refresh=True) or []
        if any(model.manageable for model in served):
            opened = await manage.open_pull(self.upstream, name, self.names.target(name))
            answer = Stream(manage.pull_lines(self.upstream, opened), opened.aclose)
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
        return Stream(_listed(lines), _nothing)

    async def delete(self, name: str) -> None:
        model = await self.lookup(name)
        if not model.manageable:
            raise NotSupportedError("deleting models is not supported by this upstream")
        await manage.delete(self.upstream, model, name)

    async def copy(self, source: str, destination: str) -> None:
        if not destination:
            raise InvalidRequestError("destination is required", param="destination")
        model = await self.lookup(source)
        if not model.manageable:
            raise NotSupportedError("copying models is not supported by this upstream; add a name to "
                                    "FRONTIER_MODEL_MAP")
        await manage.copy(self.upstream, model, source, destination)

    # --- inference ----------------------------------------------------------------------------------
    async def chat(self, req: ChatRequest, watch: Stopwatch) -> Answer:
        sampling, keep_alive = self._checked(req.options, req.keep_alive)
        translate.to_openai_format(req.format)
        model = await self.lookup(req.model)
        self._require(model, req.model, "thinking", bool(req.think))
        self._require(model, req.model, "tools", bool(req.tools))
        self._require(model, req.model, "vision", any(message.images for message in req.messages))
        if not req.messages:
            await manage.set_loaded(self.upstream, model, keep_alive)
            return empty_response("chat", req.model, "unload" if keep_alive == 0 else "load")
        messages = translate.to_openai_messages(req.messages)
        if self._budgeted(sampling, model):
            counts = await self._count(model, [context.message_text(m) for m in messages])
            messages, max_tokens = context.fit_messages(messages, counts, sampling.num_ctx or 0, sampling.max_tokens)
            sampling = replace(sampling, max_tokens=max_tokens)
        body = translate.to_openai_chat(req, model.id, sampling, extensions=model.extended, messages=messages)
        _keep_alive(body, model, keep_alive)
        return await self._call(translate.CHAT_PATH, body, "chat", req.model, req.streaming, watch)

    async def generate(self, req: GenerateRequest, watch: Stopwatch) -> Answer:
        sampling, keep_alive = self._checked(req.options, req.keep_alive)
        translate.check_generate(req)
        translate.to_openai_format(req.format)
        model = await self.lookup(req.model)
        self._require(model, req.model, "thinking", bool(req.think))
        self._require(model, req.model, "insert", bool(req.suffix))
        self._require(model, req.model, "vision", bool(req.images))
        if not req.prompt and not req.suffix and not req.images:
            await manage.set_loaded(self.upstream, model, keep_alive)
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
        call = translate.to_openai_generate(req, model.id, sampling, extensions=model.extended)
        _keep_alive(call.body, model, keep_alive)
        return await self._call(call.path, call.body, "generate", req.model, req.streaming, watch)

    async def embed(self, req: EmbedRequest, watch: Stopwatch) -> dict[str, Any]:
        parse_options(req.options)
        parse_keep_alive(req.keep_alive)
        model = await self.lookup(req.model)
        inputs = req.inputs
        if not inputs or inputs == [""]:
            return {"model": req.model, "embeddings": []}
        truncate = (req.truncate is not False) if model.extended else None
        response = await self._embeddings(model, req.model, inputs, req.dimensions, watch, truncate)
        vectors = [_l2_normalised(vector) for vector in _vectors(response)]
        return {
            "model": req.model,
            "embeddings": vectors,
            "total_duration": nanos(_elapsed(watch)),
            "load_duration": nanos(watch.upstream_start - watch.start),
            "prompt_eval_count": int((response.get("usage") or {}).get("prompt_tokens") or 0),
        }

    async def embeddings(self, req: EmbeddingsRequest, watch: Stopwatch) -> dict[str, Any]:
        """The legacy endpoint: one prompt, the vector as the upstream gives it (not re-normalised)."""
        parse_options(req.options)
        parse_keep_alive(req.keep_alive)
        model = await self.lookup(req.model)
        if not req.prompt:
            return {"embedding": []}
        response = await self._embeddings(model, req.model, [req.prompt], None, watch,
                                          True if model.extended else None)
        return {"embedding": _vectors(response)[0]}

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
        if model.extended and self.upstream.can_tokenize is not False:
            counts = await asyncio.gather(*(self.upstream.count_tokens(model.id, text) for text in texts))
            if all(count is not None for count in counts):
                return [int(count or 0) for count in counts]
        return [context.estimate_tokens(text) for text in texts]

    async def _call(
        self, path: str, body: dict[str, Any], kind: Kind, name: str, stream: bool, watch: Stopwatch
    ) -> Answer:
        watch.mark_upstream()
        try:
            if not stream:
                return from_openai_response(await self.upstream.post_json(path, body), kind, name, watch)
            events = await self.upstream.open_stream(path, body)
        except UpstreamRejected as exc:
            if exc.status == 404:
                raise ModelNotFoundError(name) from exc
            raise
        return Stream(_lines(events, StreamState(kind, name, watch)), events.aclose)

    async def _embeddings(
        self, model: UpstreamModel, name: str, inputs: list[str], dimensions: int | None, watch: Stopwatch,
        truncate: bool | None = None,
    ) -> dict[str, Any]:
        # No capability check here: a chat model embeds too on Frontier's llama.cpp engine (as in Ollama, whose
        # /api/show lists no "embedding" for it); the upstream answers for each model.
        watch.mark_upstream()
        try:
            return await self.upstream.post_json(
                translate.EMBEDDINGS_PATH, translate.to_openai_embeddings(model.id, inputs, dimensions, truncate)
            )
        except UpstreamRejected as exc:
            if exc.status in (404, 405, 501):  # the model resolved, so the upstream lacks the endpoint
                raise InvalidRequestError(f'"{name}" does not support embeddings', param="model") from exc
            raise


async def _lines(events: EventStream, state: StreamState) -> AsyncIterator[dict[str, Any]]:
    try:
        try:
            async for event in events.events():
                for line in state.absorb(event):
                    yield line
            if not events.completed and state.finish_reason is None:
                raise UpstreamError("upstream closed the stream before it finished")
            final = state.finish()
        except (FrontierError, ValueError) as exc:
            log.warning("stream for %s ended with an error: %s", state.model, exc)
            yield {"error": str(exc)}
            return
        for line in final:
            yield line
    finally:
        await events.aclose()


def _keep_alive(body: dict[str, Any], model: UpstreamModel, keep_alive: float | None) -> None:
    if model.manageable and keep_alive is not None:
        body["keep_alive"] = manage.keep_alive_seconds(keep_alive)


async def _last_line(answer: Stream) -> dict[str, Any]:
    """A non-streamed pull: Ollama answers with the final line only (success, or the error)."""
    last: dict[str, Any] = {}
    try:
        async for line in answer.lines:
            last = line
    finally:
        await answer.aclose()
    return last


async def _listed(lines: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for line in lines:
        yield line


async def _nothing() -> None:
    return None


def _vectors(response: dict[str, Any]) -> list[list[float]]:
    data = sorted(response.get("data") or [], key=lambda item: item.get("index", 0))
    if not data:
        raise UpstreamError("upstream returned no embeddings")
    return [list(item["embedding"]) for item in data]


def _l2_normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm > 0 else vector


def _elapsed(watch: Stopwatch) -> float:
    return time.perf_counter() - watch.start
