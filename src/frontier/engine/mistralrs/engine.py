"""The mistral.rs adapter behind the Engine protocol: the in-process `mistralrs.Runner`, made safe for many
concurrent requests.

Rules this file follows (measured on mistral.rs 0.9.5, see the engine notes):
- Runner methods take `&mut self`; a second call from another thread raises `Already borrowed`. So every
  Runner call holds `_runner_lock`, and every request streams (the borrow ends once it is queued).
- Streams are iterated in worker threads (iteration releases the GIL), never on the event loop.
- Two prompts of equal token length prefilled in one step crash the CPU GGUF path ("input tensor is not
  contiguous"). So admission is serial: a request holds `_admission` until its first token arrives.
  This is also why n > 1 is fanned out as n sequences instead of using the engine's n_choices.
- Dropping a stream's iterator stops its sequence in the engine (measured: throughput recovers at once),
  which is how a client disconnect frees its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from frontier.config import Settings
from frontier.engine.choice import choose_isq
from frontier.engine.device import DeviceChoice
from frontier.engine.messages import to_engine_messages
from frontier.engine.mistralrs import convert
from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
    Usage,
)
from frontier.engine.single import SingleModel, check_memory, clamp_max_tokens
from frontier.errors import (
    EngineError,
    InvalidRequestError,
    ModelLoadError,
)
from frontier.models.inspect import ModelMeta, read_meta
from frontier.models.registry import ModelSpec, configured_spec

log = logging.getLogger("frontier.engine")

# Rough template overhead per chat message (role markers, separators) for the pre-admission context check;
# the engine's exact count is reported in usage.
_PER_MESSAGE_TOKENS = 6


class MistralRsEngine(SingleModel):
    name = "mistralrs"

    def __init__(self, settings: Settings, device: DeviceChoice, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._device = device
        self.spec = spec or configured_spec(settings)
        self._runner: Any = None
        self._runner_lock = threading.Lock()
        self._admission = threading.Lock()
        slots = settings.slots
        self._slots = asyncio.Semaphore(slots)
        self._max_slots = slots
        self._in_flight = 0
        self._queued = 0
        self._engine_model_id = ""
        self._vocab = 0  # from the model's metadata, to refuse a logit_bias on a token it does not have
        self._default_adapter: str | None = None
        self.isq: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------------
    def _load_sync(self) -> None:
        import mistralrs

        from frontier.engine.mistralrs import loader

        s, spec = self._settings, self.spec
        path = spec.path
        if not path.exists():
            raise ModelLoadError(f"model {spec.id!r} not found at {path}")
        meta = read_meta(path) if spec.model_type in ("gguf", "plain") else self._meta_for_adapter(path)
        self._vocab = meta.vocab_size
        check_memory(path, meta.size_bytes, s, "; raise the limit or pick a smaller quantization")
        which, _shown = loader.which_for(spec.model_type, path)
        self._default_adapter = loader.default_adapter(spec.model_type, path)
        self.isq = choose_isq(s, meta, self._device.device)
        started = time.monotonic()
        try:
            runner = mistralrs.Runner(
                which=which,
                max_seqs=self._max_slots,
                prefix_cache_n=s.mistral_prefix_cache_n,
                no_kv_cache=False,
                token_source="none",
                in_situ_quant=self.isq.upper() if self.isq else None,
                seed=s.mistral_seed,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"the engine could not load {path}: {exc}") from exc
        self.load_seconds = time.monotonic() - started
        self._runner = runner
        self._engine_model_id = runner.get_default_model_id() or spec.id
        engine_ctx = int(runner.max_sequence_length() or 0)
        ctx = min(c for c in (engine_ctx, meta.context_length, s.mistral_max_seq_len) if c > 0)
        self._info = ModelInfo(
            id=spec.id,
            created=int(path.stat().st_mtime),
            context_length=ctx,
            architecture=meta.architecture,
            model_type=spec.model_type,
            quantization=(self.isq.upper() if self.isq else meta.quantization),
            parameter_count=meta.parameter_count,
            path=str(path),
            chat_template=meta.chat_template,
            size_bytes=meta.size_bytes,
            capabilities=["completion", "tools"],
            loaded=True,
            loaded_at=time.time(),
            load_seconds=self.load_seconds,
            engine=self.name,
        )
        log.info(
            "loaded %s (%s, %s) in %.1fs; context %d tokens; ISQ %s",
            spec.id, spec.model_type, meta.quantization or "?", self.load_seconds, ctx, self.isq or "none",
        )

    @staticmethod
    def _meta_for_adapter(path: Path) -> ModelMeta:
        return read_meta(path) if path.exists() else ModelMeta(format="")

    async def close(self) -> None:
        with self._runner_lock:
            self._runner = None

    # --- queries ------------------------------------------------------------------------------------
    async def health(self) -> EngineHealth:
        if self._runner is None:
            return EngineHealth(ok=False, reason=self._load_error or "model not loaded", device=self._device.device)
        try:
            await asyncio.to_thread(self._call, lambda r: r.is_model_loaded(self._engine_model_id))
        except Exception as exc:  # the engine itself failing is what health reports
            return EngineHealth(ok=False, reason=f"engine not answering: {exc}", device=self._device.device)
        return EngineHealth(ok=True, device=self._device.device, in_flight=self._in_flight, queued=self._queued)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        self._resolve(request.model)
        raise InvalidRequestError(f"model {request.model!r} is served by mistral.rs, which does not embed here; "
                                  "embedding models (BERT GGUF) are served by the llama.cpp engine", param="model",
                                  code="model_not_embedding")

    async def tokenize(self, model: str, text: str) -> list[int]:
        self._resolve(model)
        return await asyncio.to_thread(self._call, lambda r: list(r.tokenize_text(text, False, None)))

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        with self._runner_lock:
            if self._runner is None:
                raise EngineError("no model is loaded")
            return fn(self._runner)

    def _resolve(self, model: str, *aliases: str) -> ModelInfo:
        return super()._resolve(model, self._engine_model_id, *aliases)

    # --- generation ---------------------------------------------------------------------------------
    def _count_prompt(self, req: GenerationRequest) -> int:
        if req.prompt is not None:
            return len(self._call(lambda r: r.tokenize_text(req.prompt, True, None)))
        msgs = to_engine_messages(req.messages or [])
        text = "\n".join(m["content"] for m in msgs)
        return len(self._call(lambda r: r.tokenize_text(text, False, None))) + _PER_MESSAGE_TOKENS * (len(msgs) + 1)

    def _budget(self, req: GenerationRequest, ctx: int) -> int:
        return clamp_max_tokens(req.params.max_tokens, self._count_prompt(req), ctx, estimated=True)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        info = self._resolve(request.model)
        if (bad := request.params.bias_outside(self._vocab)) is not None:
            raise InvalidRequestError(f"logit_bias: token {bad} is not in this model's vocabulary of {self._vocab}",
                                      param="logit_bias")
        if request.adapter is None and self._default_adapter:
            request.adapter = self._default_adapter
        max_tokens = await asyncio.to_thread(self._budget, request, info.context_length)
        build = convert.completion_kwargs if request.prompt is not None else convert.request_kwargs
        kwargs = build(request, self._engine_model_id, max_tokens)
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        self._in_flight += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()
        cancel = threading.Event()
        n = max(1, request.params.n)
        alive = [n]

        def put(item: tuple[str, int, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # loop closed: nobody is listening any more
                cancel.set()

        def finished() -> None:
            alive[0] -= 1
            if alive[0] == 0:
                self._in_flight -= 1
                self._slots.release()

        for index in range(n):
            threading.Thread(
                target=self._worker, args=(kwargs, index, put, cancel, loop, finished),
                name=f"mistralrs-stream-{index}", daemon=True,
            ).start()
        usage = Usage()
        remaining = n
        try:
            while remaining:
                kind, index, payload = await queue.get()
                if kind == "error":
                    raise payload
                if kind == "done":
                    remaining -= 1
                    continue
                delta: Delta = payload
                if delta.usage is not None:
                    usage.add_choice(delta.usage)
                    delta.usage = None
                if delta.text or delta.reasoning or delta.tool_calls or delta.finish_reason or delta.logprobs:
                    yield delta
            yield Delta(usage=usage)
        finally:
            cancel.set()

    def _complete(self, kwargs: dict[str, Any], index: int, put: Callable[[tuple[str, int, Any]], None],
                  mistralrs: Any) -> None:
        """Raw prompts go through the binding's non-streaming completion call, which holds the Runner borrow
        for the whole generation: both locks stay held so nothing else prefills meanwhile."""
        with self._admission, self._runner_lock:
            if self._runner is None:
                raise EngineError("no model is loaded")
            try:
                request = mistralrs.CompletionRequest(**kwargs)
            except (ValueError, TypeError) as exc:
                put(("error", index, InvalidRequestError(f"the engine rejected the request: {exc}")))
                return
            response = self._runner.send_completion_request(request)
        put(("delta", index, convert.from_completion(response, index)))
        put(("done", index, None))

    def _worker(
        self,
        kwargs: dict[str, Any],
        index: int,
        put: Callable[[tuple[str, int, Any]], None],
        cancel: threading.Event,
        loop: asyncio.AbstractEventLoop,
        finished: Callable[[], None],
    ) -> None:
        import mistralrs

        stream = None
        try:
            if "prompt" in kwargs:
                self._complete(kwargs, index, put, mistralrs)
                return
            with self._admission:
                if cancel.is_set():
                    return
                try:
                    with self._runner_lock:
                        if self._runner is None:
                            raise EngineError("no model is loaded")
                        stream = self._runner.send_chat_completion_request(mistralrs.ChatCompletionRequest(**kwargs))
                except ValueError as exc:  # the engine refused the request as given
                    put(("error", index, InvalidRequestError(f"the engine rejected the request: {exc}")))
                    return
                first = next(stream, None)  # serial prefill: see the module docstring
            if first is not None:
                put(("delta", index, convert.from_chunk(first, index)))
                for chunk in stream:
                    if cancel.is_set():
                        break
                    put(("delta", index, convert.from_chunk(chunk, index)))
            put(("done", index, None))
        except ValueError as exc:  # model errors surface as ValueError, also mid-stream
            put(("error", index, EngineError(f"the engine failed while generating: {exc}")))
        except EngineError as exc:
            put(("error", index, exc))
        finally:
            del stream  # dropping the iterator ends the sequence in the engine
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(finished)
