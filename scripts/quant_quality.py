"""How far re-quantized copies of a GGUF drift from it: perplexity on a text, mean KL divergence of the
next-token distributions from the first file's, and how often the top token agrees. Not a test.

    .venv/bin/python scripts/quant_quality.py TEXT_FILE SHIPPED.gguf COPY.gguf [COPY.gguf ...]

Copies can be made with llama.cpp's quantizer, e.g. the Q8_0 copy Frontier's `auto` writes to
models/.derived/, or `llama_model_quantize` from llama-cpp-python with allow_requantize.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from frontier.engine.llamacpp_native import Model

TOKENS = 1024


def logits(path: Path, text: str) -> tuple[list[int], np.ndarray]:
    model = Model(path)
    lib = model.lib
    ids = model.tokenize(text, add_special=True, parse_special=False)[:TOKENS]
    params = lib.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = len(ids)
    params.n_threads = params.n_threads_batch = 2
    ctx = lib.llama_init_from_model(model.ptr, params)
    batch = lib.llama_batch_init(len(ids), 0, 1)
    for i, token in enumerate(ids):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, True
        batch.seq_id[i][0] = 0
    batch.n_tokens = len(ids)
    assert lib.llama_decode(ctx, batch) == 0
    out = np.ctypeslib.as_array(lib.llama_get_logits(ctx), shape=(len(ids), model.n_vocab)).astype(np.float64)
    lib.llama_batch_free(batch)
    lib.llama_free(ctx)
    model.close()
    return ids, out


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def main() -> None:
    text = Path(sys.argv[1]).read_text()[:12000]
    files = [Path(p) for p in sys.argv[2:]]
    ids, first = logits(files[0], text)
    base = log_softmax(first)
    for path in files:
        same, raw = logits(path, text)
        assert same == ids, "the files tokenize differently"
        lp = log_softmax(raw)
        nll = -np.mean([lp[i, ids[i + 1]] for i in range(len(ids) - 1)])
        kl = np.mean(np.sum(np.exp(base) * (base - lp), axis=1))
        top = np.mean(base.argmax(1) == lp.argmax(1))
        print(f"{path.name:44s} perplexity {math.exp(nll):7.3f}  KL from first {kl:.4f}  same top token "
              f"{top * 100:5.1f} %  ({len(ids)} tokens)")


if __name__ == "__main__":
    main()
