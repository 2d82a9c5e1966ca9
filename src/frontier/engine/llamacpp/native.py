"""The slice of llama.cpp's C API (through `llama-cpp-python`'s ctypes bindings) the llama.cpp engine uses:
a loaded model with its vocabulary, one context holding many sequences, a reusable multi-sequence batch and
per-sequence sampler chains.

Only the scheduler thread touches a `Context` after load; ctypes releases the GIL around each C call, so the
event loop keeps running while a batch decodes.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frontier.errors import ModelLoadError

_BACKEND_LOCK = threading.Lock()
_BACKEND_READY: list[bool] = []  # process-wide llama_backend_init, done once (the C library's own global)
_SPIN_COUNT = "100000"  # libgomp spin iterations before a waiting thread sleeps (its default is 300000)


def _lib() -> Any:
    # ggml starts its CPU threads through OpenMP once per decode. Sleeping between decodes (PASSIVE) costs a wake-up
    # each time: 45 against 62 tok/s at 1 stream on 2 quiet cores (docs/performance-tuning.md). Spinning forever
    # (ACTIVE) burns a core while idle and collapsed to 6 tok/s when other processes wanted the cores. A bounded
    # spin keeps the threads awake across the short gap between decodes and lets them sleep when idle.
    # libgomp reads these when it loads, so set before the first import; the user's own settings win.
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = _SPIN_COUNT
    try:
        import llama_cpp
    except ImportError as exc:  # an optional extra: say how to get it
        raise ModelLoadError(
            "the llama.cpp engine needs llama-cpp-python: pip install 'frontier[llamacpp]'"
        ) from exc
    with _BACKEND_LOCK:
        if not _BACKEND_READY:
            llama_cpp.llama_backend_init()
            _silence(llama_cpp)
            _BACKEND_READY.append(True)
    return llama_cpp


def _silence(llama_cpp: Any) -> None:
    """llama.cpp prints every tensor and KV entry at load; keep warnings and errors only (level >= 3)."""

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _: ctypes.c_void_p) -> None:
        if level in (3, 4):  # GGML_LOG_LEVEL_WARN and _ERROR (4): errors say why a call failed; 5 continues lines
            import logging

            logging.getLogger("frontier.engine.llamacpp").log(
                logging.WARNING if level == 4 else logging.DEBUG, text.decode(errors="replace").rstrip())

    _BACKEND_READY.append(callback)  # keep the callback alive as long as the process
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def gpu_offload_supported() -> bool:
    return bool(_lib().llama_supports_gpu_offload())


@dataclass(slots=True)
class SamplerConfig:
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: random
    grammar: str | None = None  # GBNF
    banned_tokens: Sequence[int] = ()  # logit bias -inf (ignore_eos bans end-of-generation tokens)
    logit_bias: dict[int, float] = field(default_factory=dict)  # OpenAI's logit_bias: token id -> added bias


class Model:
    """A GGUF loaded into memory, with its vocabulary."""

    def __init__(self, path: Path, *, n_gpu_layers: int = 0) -> None:
        self.lib = lib = _lib()
        params = lib.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        self.ptr = lib.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise ModelLoadError(f"llama.cpp could not load {path}")
        self.vocab = lib.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(self.ptr))
        # K and V in f16 for every layer: what one KV cell costs (head size as n_embd / n_head, the common case)
        n_head = max(1, int(lib.llama_model_n_head(self.ptr)))
        head_dim = int(lib.llama_model_n_embd(self.ptr)) // n_head
        self.kv_bytes_per_cell = 2 * 2 * int(lib.llama_model_n_layer(self.ptr)) * int(
            lib.llama_model_n_head_kv(self.ptr)) * head_dim
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self.eog = frozenset(t for t in range(self.n_vocab) if lib.llama_vocab_is_eog(self.vocab, t))
        self._piece = ctypes.create_string_buffer(256)

    def token_text(self, token: int) -> str:
        """A special token's own text (e.g. "<|im_end|>"), for chat templates."""
        if token < 0:
            return ""
        return self.piece(token, special=True).decode(errors="replace")

    def bos_text(self) -> str:
        return self.token_text(int(self.lib.llama_vocab_bos(self.vocab)))

    def eos_text(self) -> str:
        return self.token_text(int(self.lib.llama_vocab_eos(self.vocab)))

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode()
        size = len(data) + 16
        buf = (self.lib.llama_token * size)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        if n < 0:  # buffer too small: -n is the size needed
            size = -n
            buf = (self.lib.llama_token * size)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        n = self.lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
            return buf.raw[:n]
        return self._piece.raw[:n]

    def close(self) -> None:
        if self.ptr:
            self.lib.llama_model_free(self.ptr)
            self.ptr = None


class Batch:
    """One llama_batch, refilled every scheduler step: tokens of many sequences at their positions."""

    def __init__(self, lib: Any, capacity: int) -> None:
        self.lib = lib
        self.capacity = capacity
        self.raw = lib.llama_batch_init(capacity, 0, 1)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, token: int, pos: int, seq: int, want_logits: bool) -> int:
        """Appends a token; returns its index in the batch (where its logits are read back)."""
        i, raw = self.n, self.raw
        raw.token[i] = token
        raw.pos[i] = pos
        raw.n_seq_id[i] = 1
        raw.seq_id[i][0] = seq
        raw.logits[i] = want_logits
        self.n += 1
        return i

    def free(self) -> None:
        if self.raw is not None:
            self.lib.llama_batch_free(self.raw)
            self.raw = None


class Context:
    """One llama.cpp context: the KV cache of up to `n_seq` sequences. Split (`unified=False`), each sequence
    has its own n_ctx / n_seq cells and a decode attends only over its own; unified, any sequence may use any
    free cell, so one long request and many short ones share less memory, but every decode attends over the
    span of all cells in use, idle cached prefixes of other sequences included."""

    def __init__(self, model: Model, *, n_ctx: int, n_seq: int, n_batch: int, n_threads: int,
                 unified: bool = True) -> None:
        lib = self.lib = model.lib
        self.model = model
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = unified
        params.no_perf = True
        self.ptr = lib.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise ModelLoadError(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.n_ctx = int(lib.llama_n_ctx(self.ptr))
        self.unified = unified
        self.n_threads = n_threads
        self.memory = lib.llama_get_memory(self.ptr)
        self.batch = Batch(lib, n_batch)
        self._rows: dict[int, np.ndarray] = {}  # logits rows by address: see logits()

    def set_threads(self, n: int) -> None:
        """Threads of the next decodes, generation and prompt alike (llama.cpp reads them at each decode)."""
        self.lib.llama_set_n_threads(self.ptr, n, n)
        self.n_threads = n

    def decode(self) -> int:
        """Decodes the batch: 0 ok, 1 no room in the KV cache for this batch, < 0 or > 1 an error."""
        raw = self.batch.raw
        raw.n_tokens = self.batch.n
        return int(self.lib.llama_decode(self.ptr, raw))

    def forget(self, seq: int, from_pos: int = 0) -> None:
        """Frees the KV cells of `seq` from position `from_pos` on (0: the whole sequence)."""
        self.lib.llama_memory_seq_rm(self.memory, seq, from_pos, -1)

    def copy_seq(self, src: int, dst: int) -> bool:
        """Gives `dst` (empty) the KV cells of `src`. Unified, the cells are shared (bookkeeping only); split,
        llama.cpp's own copy would copy src's whole stream of cells, so the sequence's state is read and
        written instead: its used cells only (24 cells: 0.5 MB, 0.2 ms on the default model)."""
        if self.unified:
            self.lib.llama_memory_seq_cp(self.memory, src, dst, -1, -1)
            return True
        state = self.save_seq(src)
        if state is None:
            self.forget(dst)
            return False
        return self.load_seq(dst, state)

    def save_seq(self, seq: int) -> tuple[ctypes.Array[ctypes.c_uint8], int] | None:
        """A copy of `seq`'s KV cells and positions in host memory, for `load_seq`; None if llama.cpp could not
        write it."""
        lib = self.lib
        size = int(lib.llama_state_seq_get_size(self.ptr, seq))
        buf = (ctypes.c_uint8 * size)()
        got = int(lib.llama_state_seq_get_data(self.ptr, buf, size, seq))
        return (buf, got) if got > 0 else None

    def load_seq(self, seq: int, state: tuple[ctypes.Array[ctypes.c_uint8], int]) -> bool:
        """Replaces `seq`'s cells with a state from `save_seq`; on failure `seq` is left empty."""
        buf, size = state
        self.forget(seq)
        if int(self.lib.llama_state_seq_set_data(self.ptr, buf, size, seq)) != size:
            self.forget(seq)
            return False
        return True

    def logits(self, index: int) -> np.ndarray:
        """The raw logits of batch entry `index` from the last decode: a view, valid until the next decode."""
        ptr = self.lib.llama_get_logits_ith(self.ptr, index)
        if not ptr:
            raise RuntimeError(f"no logits at batch index {index}")
        # Wrapping a pointer as an array took 62 us a row in the server (a greedy token's whole sample was 110 us);
        # a row's address repeats from step to step, so its view is kept. Only the address llama.cpp has just
        # returned is looked up: a view kept for a buffer it has since freed is never read.
        address = ctypes.cast(ptr, ctypes.c_void_p).value or 0
        view = self._rows.get(address)
        if view is None:
            if len(self._rows) >= 4 * self.batch.capacity:  # the output buffer moved: forget the old rows
                self._rows.clear()
            view = self._rows[address] = np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,))
        return view

    def logprobs(self, index: int, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
        """The chosen token's log-probability and the `top` most likely tokens, from the raw logits."""
        logits = self.logits(index).astype(np.float64)
        shifted = logits - logits.max()
        logp = shifted - np.log(np.exp(shifted).sum())
        best: list[tuple[int, float]] = []
        if top > 0:
            ids = np.argpartition(-logp, top)[:top]
            best = sorted(((int(t), float(logp[t])) for t in ids), key=lambda p: -p[1])
        return float(logp[token]), best

    def close(self) -> None:
        self.batch.free()
        if self.ptr:
            self.lib.llama_free(self.ptr)
            self.ptr = None


def _chain(model: Model, cfg: SamplerConfig, grammar: str | None) -> Any:
    """A sampler chain in llama-server's order: grammar, bans, penalties, top-k, top-p, min-p, temperature,
    then a seeded draw (greedy at temperature 0)."""
    lib = model.lib
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    add = lambda s: lib.llama_sampler_chain_add(chain, s)  # noqa: E731
    if grammar:
        add(_grammar(model, grammar))
    wanted = _biases(cfg, model.n_vocab)
    if wanted:
        biases = (lib.llama_logit_bias * len(wanted))()
        for i, (token, bias) in enumerate(wanted.items()):
            biases[i].token = token
            biases[i].bias = bias
        add(lib.llama_sampler_init_logit_bias(model.n_vocab, len(wanted), biases))
    if cfg.repeat_penalty != 1.0 or cfg.frequency_penalty or cfg.presence_penalty:
        add(lib.llama_sampler_init_penalties(
            model.n_vocab, 64, cfg.repeat_penalty, cfg.frequency_penalty, cfg.presence_penalty))
    if cfg.temperature <= 0:
        add(lib.llama_sampler_init_greedy())
        return chain
    if cfg.top_k > 0:
        add(lib.llama_sampler_init_top_k(cfg.top_k))
    if cfg.top_p < 1.0:
        add(lib.llama_sampler_init_top_p(cfg.top_p, 1))
    if cfg.min_p > 0:
        add(lib.llama_sampler_init_min_p(cfg.min_p, 1))
    add(lib.llama_sampler_init_temp(cfg.temperature))
    add(lib.llama_sampler_init_dist(cfg.seed & 0xFFFFFFFF))
    return chain


def _biases(cfg: SamplerConfig, n_vocab: int) -> dict[int, float]:
    """Token -> logit added: OpenAI's logit_bias, and -inf for banned tokens. Tokens outside the vocabulary are
    left out, as llama.cpp's logit-bias sampler skips them."""
    wanted = {**cfg.logit_bias, **{token: float("-inf") for token in cfg.banned_tokens}}
    return {token: bias for token, bias in wanted.items() if 0 <= token < n_vocab}


def _grammar(model: Model, gbnf: str) -> Any:
    sampler = model.lib.llama_sampler_init_grammar(model.vocab, gbnf.encode(), b"root")
    if not sampler:
        raise ValueError("the grammar could not be parsed")
    return sampler


class Sampler:
    """One sequence's sampling state.

    With a grammar, checking all ~50k tokens against it every step costs tens of milliseconds. So, as
    llama-server does, the token is first drawn without the grammar and only checked alone; only when the
    grammar rejects it is it drawn again from the grammar-constrained chain. Both chains and the standalone
    grammar see every accepted token, so their states stay in step.
    """

    def __init__(self, model: Model, cfg: SamplerConfig) -> None:
        self.lib = model.lib
        self.free_chain = _chain(model, cfg, None)
        # Greedy with at most a logit bias (temperature 0, what coding agents ask for) is an argmax: numpy does it
        # in 8 us where llama_sampler_sample copies all ~50k logits into candidates first (64 us a token).
        self.argmax = cfg.temperature <= 0 and not cfg.grammar and cfg.repeat_penalty == 1.0 and not (
            cfg.frequency_penalty or cfg.presence_penalty)
        wanted = _biases(cfg, model.n_vocab)
        self._bias_ids = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
        self._bias = np.fromiter(wanted.values(), dtype=np.float32, count=len(wanted))
        self._only_lowers = frozenset(wanted) if all(b <= 0 for b in wanted.values()) else None
        self.check = self.strict = None
        if cfg.grammar:
            try:
                self.check = _grammar(model, cfg.grammar)
                self.strict = _chain(model, cfg, cfg.grammar)
            except ValueError:
                self.close()
                raise
            self._one = (self.lib.llama_token_data * 1)()
            self._array = self.lib.llama_token_data_array(self._one, 1, -1, False)

    def sample(self, ctx: Context, index: int) -> int:
        lib = self.lib
        if self.argmax:
            return self._argmax(ctx, index)
        token = int(lib.llama_sampler_sample(self.free_chain, ctx.ptr, index))
        if self.check is None:
            return token
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 1.0, 0.0
        self._array.size, self._array.selected = 1, -1
        lib.llama_sampler_apply(self.check, ctypes.byref(self._array))
        if self._one[0].logit == float("-inf"):  # rejected: draw again under the grammar
            token = int(lib.llama_sampler_sample(self.strict, ctx.ptr, index))
            lib.llama_sampler_accept(self.free_chain, token)
        else:
            lib.llama_sampler_accept(self.strict, token)
        lib.llama_sampler_accept(self.check, token)
        return token

    def _argmax(self, ctx: Context, index: int) -> int:
        """llama.cpp's greedy choice: the first highest logit after the biases, added in float32 as it does."""
        logits = ctx.logits(index)
        if len(self._bias_ids):
            best = int(logits.argmax())
            if self._only_lowers is not None and best not in self._only_lowers:
                return best  # biases that only lower (ignore_eos's bans) cannot move a first maximum they miss
            logits = logits.copy()
            logits[self._bias_ids] += self._bias
        return int(logits.argmax())

    def close(self) -> None:
        for sampler in (self.free_chain, self.check, self.strict):
            if sampler:
                self.lib.llama_sampler_free(sampler)
        self.free_chain = self.check = self.strict = None
