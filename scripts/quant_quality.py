"""How far re-quantized copies of a GGUF drift from it: perplexity on a text, mean KL divergence of the
next-token distributions from the first file's, and how often the top token agrees. Not a test.

    .venv/bin/python scripts/quant_quality.py TEXT_FILE SHIPPED.gguf COPY.gguf [COPY.gguf ...]

Copies can be made with llama.cpp's quantizer, e.g. the Q8_0 copy Frontier's `auto` writes to
models/.derived/, or `llama_model_quantize` from llama-cpp-python with allow_requantize.
"""

from __future__ import annotations

import sys
from pathlib import Path

from frontier.bench.drift import drift, log_probs

TOKENS = 1024


def main() -> None:
    text = Path(sys.argv[1]).read_text()[:12000]
    files = [Path(p) for p in sys.argv[2:]]
    ids, base = log_probs(files[0], text, TOKENS)
    for path in files:
        same, other = log_probs(path, text, TOKENS)
        assert same == ids, "the files tokenize differently"
        d = drift(ids, base, other)
        print(f"{path.name:44s} perplexity {d.perplexity:7.3f}  KL from first {d.kl:.4f}  same top token "
              f"{d.same_top * 100:5.1f} %  ({len(ids)} tokens)")


if __name__ == "__main__":
    main()
