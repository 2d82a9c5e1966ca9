"""How far a converted GGUF drifts from the file it came from: next-token distributions on the same text,
compared by perplexity, KL divergence and top-token agreement. Used by the Q8_0-copy test and by
scripts/quant_quality.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frontier.engine.llamacpp.native import Model


@dataclass(frozen=True, slots=True)
class Drift:
    perplexity: float  # of the compared file on the text
    kl: float  # mean KL(base || compared) of the next-token distributions
    same_top: float  # share of positions where both predict the same token


def log_probs(path: Path, text: str, tokens: int, threads: int = 2) -> tuple[list[int], np.ndarray]:
    """The first `tokens` tokens of `text` and the log-probabilities of every next token after each."""
    model = Model(path)
    lib = model.lib
    ids = model.tokenize(text, add_special=True, parse_special=False)[:tokens]
    params = lib.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = len(ids)
    params.n_threads = params.n_threads_batch = threads
    ctx = lib.llama_init_from_model(model.ptr, params)
    batch = lib.llama_batch_init(len(ids), 0, 1)
    try:
        for i, token in enumerate(ids):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, True
            batch.seq_id[i][0] = 0
        batch.n_tokens = len(ids)
        if lib.llama_decode(ctx, batch) != 0:
            raise RuntimeError(f"llama.cpp could not decode the text with {path.name}")
        raw = np.ctypeslib.as_array(lib.llama_get_logits(ctx), shape=(len(ids), model.n_vocab))
        logits = raw.astype(np.float64)
    finally:
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
        model.close()
    shifted = logits - logits.max(axis=1, keepdims=True)
    return ids, shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def drift(ids: list[int], base: np.ndarray, other: np.ndarray) -> Drift:
    """`base` and `other`: log_probs of two files on the same `ids`."""
    nll = -np.mean([other[i, ids[i + 1]] for i in range(len(ids) - 1)])
    kl = float(np.mean(np.sum(np.exp(base) * (base - other), axis=1)))
    same_top = float(np.mean(base.argmax(1) == other.argmax(1)))
    return Drift(math.exp(nll), kl, same_top)
