"""The llama.cpp adapter behind the Engine protocol: one GGUF model, one context, continuous batching.

The C calls all happen on the scheduler thread (llamacpp_scheduler.py); this side templates and tokenizes
the request, checks it against the context, submits one job per choice and turns the scheduler's Deltas into
the stream the HTTP layers expect. Closing the stream (client gone) cancels the jobs, which frees their slots
at the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

from frontier.config import Settings
from frontier.engine import tool_calls
from frontier.engine.choice import EMBEDDING_ARCHITECTURES
from frontier.engine.device import DeviceChoice
from frontier.engine.llamacpp import chat_template, requant
from frontier.engine.llamacpp.embed import EmbedContext
from frontier.engine.llamacpp.free_cores import FreeCores
from frontier.engine.llamacpp.native import Context, Model, SamplerConfig
from frontier.engine.llamacpp.omp import on_own_thread
from frontier.engine.llamacpp.scheduler import Job, Scheduler, common_prefix
from frontier.engine.messages import to_engine_messages
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
    EngineUnavailableError,
    InvalidRequestError,
    ModelLoadError,
)
from frontier.models.inspect import ModelMeta, read_meta
from frontier.models.registry import ModelSpec

log = logging.getLogger("frontier.engine")

# The KV cache holds every running sequence. Where a whole context for every slot fits in _SPLIT_KV_BYTES,
# each slot gets its own cells (split): a decode then attends only over its own sequence, not over the idle
# cached prefixes of the others, which measured 10-30 % of decode speed (docs/performance-tuning.md, "KV
# layout"). Otherwise one unified pool of up to _KV_POOL_CAP cells, so a big model with many slots does not
# reserve gigabytes up front. Either way one request can use a whole context.
_KV_POOL_CAP = 16384
_SPLIT_KV_BYTES = 2 * 2**30
_BATCH_TOKENS = 512  # tokens decoded per step at most (generating tokens + prompt chunks)
_OPENING_MAX = 256  # tokens of a chat template's fixed opening put in every slot at load, at most
_EMBED_SEQUENCES = 16  # inputs encoded together at most
_CHAT_EMBED_TOKENS = 2048  # a chat model's inputs to embed: its own small context, not the generation pool


def thread_count(configured: int = 0) -> int:
    if configured > 0:
        return configured
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def kv_split(ctx_len: int, slots: int, bytes_per_cell: int, memory_limit: int, layout: str = "auto") -> bool:
    """Whether every slot gets a whole context of its own (MISTRAL_KV_LAYOUT); `auto`: when that costs at
    most _SPLIT_KV_BYTES and a quarter of the memory the server may use."""
    if slots < 2 or layout == "unified":
        return False
    return layout == "split" or ctx_len * slots * bytes_per_cell <= min(_SPLIT_KV_BYTES, memory_limit // 4)


class LlamaCppEngine(SingleModel):
    name = "llamacpp"

    def __init__(self, settings: Settings, device: DeviceChoice, spec: ModelSpec) -> None:
        super().__init__()
        self._settings = settings
        self._device = device
        self.spec = spec
        self._slots = settings.slots
        self._model: Model | None = None
        self._ctx: Context | None = None
        self._scheduler: Scheduler | None = None
        self._embedder: EmbedContext | None = None
        self._embed_lock = threading.Lock()
        self._bos = self._eos = ""

    # --- lifecycle ----------------------------------------------------------------------------------
    def _load_sync(self) -> None:
        s, spec = self._settings, self.spec
        if spec.model_type != "gguf":
            raise ModelLoadError(f"the llama.cpp engine serves GGUF files only, not {spec.model_type} models")
        if not spec.path.is_file():
            raise ModelLoadError(f"model {spec.id!r} not found at {spec.path}")
        meta = read_meta(spec.path)
        if meta.data_end > meta.size_bytes:  # llama.cpp would only say it could not load the file
            raise ModelLoadError(f"{spec.path.name} is truncated: tensor data ends at byte {meta.data_end}, "
                                 f"the file has {meta.size_bytes}; download it again")
        check_memory(spec.path, meta.size_bytes, s)
        started = time.monotonic()
        gpu_layers = 999 if self._device.device in ("cuda", "metal") else 0
        if meta.architecture in EMBEDDING_ARCHITECTURES:
            self._load_embedder(meta, gpu_layers, started)
            return
        model, quantization = self._load_weights(meta.quantization, gpu_layers)
        ctx_len = min(c for c in (model.n_ctx_train, meta.context_length, s.mistral_max_seq_len) if c > 0)
        split = kv_split(ctx_len, self._slots, model.kv_bytes_per_cell, s.memory_limit_bytes,
                         s.mistral_kv_layout)
        pool = ctx_len * self._slots if split else max(ctx_len, min(ctx_len * self._slots, _KV_POOL_CAP))
        try:
            ctx = Context(model, n_ctx=pool, n_seq=self._slots, n_batch=_BATCH_TOKENS,
                          n_threads=thread_count(s.mistral_threads), unified=not split)
        except ModelLoadError:
            model.close()
            raise
        self._model, self._ctx = model, ctx
        self._bos, self._eos = model.bos_text(), model.eos_text()
        threads = thread_count(s.mistral_threads)
        cores = FreeCores(threads, adaptive=s.mistral_adaptive_threads and not gpu_layers)
        self._scheduler = Scheduler(model, ctx, self._slots, reuse_prefixes=s.mistral_prefix_cache_n > 0,
                                    cores=cores if cores.enabled else None,
                                    opening=self._opening(model, meta.chat_template))
        self.load_seconds = time.monotonic() - started
        template = meta.chat_template
        self._info = ModelInfo(
            id=spec.id, created=int(spec.path.stat().st_mtime), context_length=ctx_len,
            architecture=meta.architecture, model_type="gguf", quantization=quantization,
            parameter_count=meta.parameter_count, path=str(spec.path), chat_template=template,
            size_bytes=meta.size_bytes, capabilities=["completion", "tools"], loaded=True,
            loaded_at=time.time(), load_seconds=self.load_seconds, engine=self.name,
        )
        log.info(
            "loaded %s (%s) on llama.cpp in %.1fs; context %d tokens per request, %d KV cells (%s, %.0f MiB) for "
            "%d sequences, %d threads%s", spec.id, quantization, self.load_seconds, ctx_len, ctx.n_ctx,
            "unified" if ctx.unified else "one context per sequence", ctx.n_ctx * model.kv_bytes_per_cell / 2**20,
            self._slots, threads,
            " (fewer while other processes hold cores)" if cores.enabled else "",
        )

    def _opening(self, model: Model, template: str | None) -> list[int]:
        """The tokens every conversation starts with: what the chat template renders before the first user
        message's text (BOS, a default system prompt, the turn header), found as the common start of two
        rendered chats. Empty where the template puts nothing fixed there, or refuses a plain user turn."""
        try:
            chats = [self._chat_tokens(model, template, [{"role": "user", "content": text}])
                     for text in ("Hi", "2 + 2 = ?")]
        except InvalidRequestError:
            return []
        return chats[0][:min(common_prefix(*chats), _OPENING_MAX)]

    def _chat_tokens(self, model: Model, template: str | None, messages: list[dict[str, Any]],
                     tools: list[dict[str, Any]] | None = None, enable_thinking: bool | None = None) -> list[int]:
        text = chat_template.render(template or "", messages, bos=self._bos, eos=self._eos, tools=tools,
                                    enable_thinking=enable_thinking)
        add_bos = model.add_bos and not (self._bos and text.startswith(self._bos))
        return model.tokenize(text, add_special=add_bos, parse_special=True)

    def _load_embedder(self, meta: ModelMeta, gpu_layers: int, started: float) -> None:
        """An embedding model: no generation context, no scheduler; encodes run one at a time under a lock.
        Half the cores: an encode is a few milliseconds, and the chat models' decodes need the rest."""
        spec, model = self.spec, Model(self.spec.path, n_gpu_layers=gpu_layers)
        ctx_len = min(c for c in (model.n_ctx_train, meta.context_length) if c > 0)
        try:
            self._embedder = EmbedContext(model, n_ctx=ctx_len, n_seq=_EMBED_SEQUENCES,
                                          n_threads=max(1, thread_count(self._settings.mistral_threads) // 2))
        except ModelLoadError:
            model.close()
            raise
        self._model = model
        self.load_seconds = time.monotonic() - started
        self._info = ModelInfo(
            id=spec.id, created=int(spec.path.stat().st_mtime), context_length=ctx_len,
            architecture=meta.architecture, model_type="gguf", quantization=meta.quantization,
            parameter_count=meta.parameter_count, path=str(spec.path), size_bytes=meta.size_bytes,
            capabilities=["embedding"], loaded=True, loaded_at=time.time(), load_seconds=self.load_seconds,
            engine=self.name,
        )
        log.info("loaded %s (%s) on llama.cpp in %.2fs: an embedding model, %d tokens per input, %d dimensions",
                 spec.id, meta.quantization, self.load_seconds, ctx_len, self._embedder.n_embd)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        self._resolve(request.model)
        model = self._loaded_model()
        embedder = self._embedder
        if embedder is None:
            embedder = await asyncio.to_thread(self._chat_embedder, model)
        inputs = [model.tokenize(x, add_special=True, parse_special=False) if isinstance(x, str) else list(x)
                  for x in request.inputs]
        if (bad := next((t for x in inputs for t in x if not 0 <= t < model.n_vocab), None)) is not None:
            raise InvalidRequestError(f"input: token {bad} is not in this model's vocabulary", param="input")
        if (empty := next((i for i, x in enumerate(inputs) if not x), None)) is not None:
            raise InvalidRequestError(f"input[{empty}] has no tokens to embed", param="input")
        fitted = [embedder.fit(x, request.truncate, i) for i, x in enumerate(inputs)]

        def run() -> list[list[float]]:
            with self._embed_lock:
                return embedder.embed(fitted)

        # Not asyncio.to_thread: an executor thread would keep the OpenMP pool of its encodes for good (omp.py)
        return Embeddings(vectors=await on_own_thread(run, "llamacpp-embed"),
                          prompt_tokens=sum(len(x) for x in fitted))

    def _chat_embedder(self, model: Model) -> EmbedContext:
        """A chat model embeds too (Ollama does): a small context of its own, made on the first request."""
        with self._embed_lock:
            made = self._embedder or EmbedContext(model, n_ctx=min(self.info.context_length, _CHAT_EMBED_TOKENS),
                                                  n_seq=_EMBED_SEQUENCES, causal=True,
                                                  n_threads=thread_count(self._settings.mistral_threads))
            self._embedder = made
            return made

    def _load_weights(self, quantization: str, gpu_layers: int) -> tuple[Model, str]:
        """The model as shipped, or its Q8_0 copy where `auto` asks for one (llamacpp_requant.py)."""
        s, source = self._settings, self.spec.path
        if gpu_layers or not requant.wants_copy(s.isq, quantization, self._device.device):
            return Model(source, n_gpu_layers=gpu_layers), quantization
        path = requant.ensure_q8_0(source, thread_count(s.mistral_threads))
        if path == source:
            return Model(source), quantization
        try:
            return Model(path), "Q8_0"
        except ModelLoadError:  # a copy llama.cpp wrote but cannot read back: drop it, serve the original
            log.warning("the Q8_0 copy %s did not load; removed, serving %s as shipped", path, source.name)
            path.unlink(missing_ok=True)
            return Model(source), quantization

    async def close(self) -> None:
        scheduler, ctx, model = self._scheduler, self._ctx, self._model
        self._scheduler = None
        if self._embedder is not None:
            with self._embed_lock:
                self._embedder.close()
            self._embedder = None
        if scheduler is not None:
            await asyncio.to_thread(scheduler.close)
        if ctx is not None:
            ctx.close()
        if model is not None:
            model.close()
        self._ctx = self._model = None

    # --- queries ------------------------------------------------------------------------------------
    async def health(self) -> EngineHealth:
        scheduler = self._scheduler
        if scheduler is None and self._embedder is not None:
            return EngineHealth(ok=True, device=self._device.device)
        if scheduler is None:
            return EngineHealth(ok=False, reason=self._load_error or "model not loaded", device=self._device.device)
        if scheduler.failed:
            return EngineHealth(ok=False, reason=scheduler.failed, device=self._device.device)
        return EngineHealth(ok=True, device=self._device.device, in_flight=scheduler.active,
                            queued=scheduler.waiting, cpu_threads=scheduler.threads)

    async def tokenize(self, model: str, text: str) -> list[int]:
        self._resolve(model)
        return self._loaded_model().tokenize(text, add_special=False, parse_special=False)

    def _loaded_model(self) -> Model:
        if self._model is None:
            raise EngineUnavailableError("no model is loaded")
        return self._model

    # --- generation ---------------------------------------------------------------------------------
    def _prompt_tokens(self, req: GenerationRequest, tools: bool) -> list[int]:
        model = self._loaded_model()
        if req.prompt is not None:
            return model.tokenize(req.prompt, add_special=model.add_bos, parse_special=False)
        messages: list[dict[str, Any]] = list(to_engine_messages(req.messages or []))
        template = self.info.chat_template
        if tools and req.tools and not tool_calls.template_knows_tools(template):
            messages = tool_calls.with_tools(messages, req.tools)
        return self._chat_tokens(model, template, messages, req.tools if tools else None, req.enable_thinking)

    def _sampling(self, req: GenerationRequest, index: int) -> SamplerConfig:
        p = req.params
        cfg = SamplerConfig()
        if p.temperature is not None:
            cfg.temperature = p.temperature
        if p.top_k is not None:
            cfg.top_k = p.top_k
        if p.top_p is not None:
            cfg.top_p = p.top_p
        if p.min_p is not None:
            cfg.min_p = p.min_p
        cfg.repeat_penalty = p.repetition_penalty or 1.0
        cfg.frequency_penalty = p.frequency_penalty or 0.0
        cfg.presence_penalty = p.presence_penalty or 0.0
        seed = p.seed if p.seed is not None else self._settings.mistral_seed
        if seed is not None:
            cfg.seed = seed + index
        if p.ignore_eos:
            cfg.banned_tokens = sorted(self._loaded_model().eog)
        if p.logit_bias:
            vocab = self._loaded_model().n_vocab
            if (bad := p.bias_outside(vocab)) is not None:
                raise InvalidRequestError(f"logit_bias: token {bad} is not in this model's vocabulary of {vocab}",
                                          param="logit_bias")
            cfg.logit_bias = dict(p.logit_bias)
        cfg.grammar = self._grammar(req)
        return cfg

    @staticmethod
    def _grammar(req: GenerationRequest) -> str | None:
        if req.grammar is None:
            return None
        if req.grammar.kind != "json_schema":
            raise InvalidRequestError(
                f"{req.grammar.kind} grammars are not supported by the llama.cpp engine; use a JSON schema",
                param="response_format", code="unsupported_value",
            )
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            return str(json_schema_to_gbnf(req.grammar.value))
        except (ValueError, KeyError, TypeError, NotImplementedError, RecursionError, AssertionError, IndexError,
                AttributeError) as exc:  # llama-cpp-python's converter asserts on schemas it cannot read
            raise InvalidRequestError(f"this JSON schema cannot be turned into a grammar: {exc}",
                                      param="response_format") from None

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        info = self._resolve(request.model)
        if request.adapter:
            raise InvalidRequestError("LoRA adapters are served by the mistral.rs engine only", param="adapter",
                                      code="unsupported_value")
        scheduler = self._scheduler
        if scheduler is None and self._embedder is not None:
            raise InvalidRequestError(f"model {request.model!r} is an embedding model: it does not generate text",
                                      param="model", code="model_not_generative")
        if scheduler is None:
            raise EngineUnavailableError("no model is loaded")
        use_tools = bool(request.tools) and request.tool_choice != "none" and request.prompt is None
        p = request.params
        jobs: list[Job] = []
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | Exception] = asyncio.Queue()

        def emit(item: Delta | Exception) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        known = {str((t.get("function") or {}).get("name")) for t in request.tools or []}
        held: dict[int, list[Delta]] = {}
        watches: dict[int, tool_calls.CallWatch] = {}
        stream_prose = use_tools and not p.logprobs  # logprobs stay whole: held deltas keep theirs
        try:
            with scheduler.arriving() as submit:  # requests that arrive together start together (Scheduler._gather)
                prompt = await asyncio.to_thread(self._prompt_tokens, request, use_tools)
                if not prompt:  # e.g. a raw prompt of characters the tokenizer drops: nothing to continue from
                    raise InvalidRequestError("the prompt has no tokens",
                                              param="prompt" if request.prompt is not None else "messages")
                max_tokens = clamp_max_tokens(request.params.max_tokens, len(prompt), info.context_length)
                jobs = [
                    Job(prompt=prompt, max_tokens=max_tokens, sampling=self._sampling(request, i), emit=emit,
                        index=i, stops=list(p.stop), top_logprobs=(p.top_logprobs or 0) if p.logprobs else None)
                    for i in range(max(1, p.n))
                ]
                submit(*jobs)
            usage, remaining = Usage(), len(jobs)
            while remaining:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                if item.usage is not None:
                    usage.add_choice(item.usage)
                    item.usage = None
                if item.finish_reason:
                    remaining -= 1
                if not use_tools:
                    yield item
                    continue
                if stream_prose:
                    for delta in _watched(watches.setdefault(item.index, tool_calls.CallWatch(known)), item):
                        yield delta
                    continue
                # With tools offered and logprobs asked for, a choice's text is held until it ends: only then is
                # it known whether the model answered or called a tool.
                held.setdefault(item.index, []).append(item)
                if item.finish_reason:
                    for delta in _resolve_tools(held.pop(item.index), known):
                        yield delta
            yield Delta(usage=usage)
        finally:
            for job in jobs:
                job.cancelled.set()
            scheduler.wake()


def _watched(watch: tool_calls.CallWatch, item: Delta) -> list[Delta]:
    """A delta of a tool-offered choice: its prose now, a call (or held text) when the choice ends."""
    shown = watch.push(item.text)
    if not item.finish_reason:
        return [Delta(index=item.index, text=shown)] if shown else []
    rest, calls = watch.finish()
    if calls:
        out = [Delta(index=item.index, text=shown)] if shown else []
        return [*out, Delta(index=item.index, tool_calls=calls, finish_reason="tool_calls")]
    return [Delta(index=item.index, text=shown + rest, finish_reason=item.finish_reason,
                  stop_sequence=item.stop_sequence)]


def _resolve_tools(deltas: list[Delta], known: set[str]) -> list[Delta]:
    text = "".join(d.text for d in deltas)
    calls = tool_calls.parse(text, known) if text.strip() else []
    last = deltas[-1]
    if not calls:
        return deltas
    return [Delta(index=last.index, tool_calls=calls, finish_reason="tool_calls")]
