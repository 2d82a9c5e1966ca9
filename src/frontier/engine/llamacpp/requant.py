"""Q8_0 copies of GGUF files whose type llama.cpp's CPU kernels run slowly (MISTRAL_DEFAULT_QUANTIZATION=auto).

llama.cpp runs Q4_1 with plain dot products on the CPU: no tiled GEMM for prompts and no repacked layout for
decode, which Q4_0, Q8_0 and F16 get. On 2 cores (docs/performance-tuning.md) a Q8_0 copy of the default
model prefilled about twice as fast, decoded 8 streams faster and 1 stream about as fast, with the quality of
the shipped file: perplexity 19.99 against 20.03, KL divergence 0.006 from it, the level of an F16 copy.
Re-quantizing to a 4-bit type would be faster still but changes the model (perplexity +16 %), so `auto`
never does that.

The copy is written once, next to the model in the models folder's hidden `.derived/` (the registry skips
hidden entries), atomically: a crash leaves at most a `.part` file, never a half copy that would load. It is
rebuilt when the source is newer. If it cannot be written, the shipped file is served and the log says why.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path

from frontier.engine.llamacpp.native import _lib
from frontier.models.registry import derived_copy

log = logging.getLogger("frontier.engine")

SLOW_ON_CPU = frozenset({"Q4_1"})  # measured; other types llama.cpp covers with GEMM or repacked kernels


def wants_copy(isq: str | None, quantization: str, device: str) -> bool:
    """`isq`: the normalised MISTRAL_DEFAULT_QUANTIZATION (None = serve as shipped)."""
    return isq == "auto" and device == "cpu" and quantization.upper() in SLOW_ON_CPU


def ensure_q8_0(source: Path, threads: int) -> Path:
    """The Q8_0 copy of `source`, written first if missing or older than it; `source` itself on failure."""
    target = derived_copy(source, "q8_0")
    try:
        if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
            return target
        target.parent.mkdir(exist_ok=True)
    except OSError as exc:
        log.warning("serving %s as shipped: no Q8_0 copy (%s)", source.name, exc)
        return source
    part = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.part")
    lib = _lib()
    params = lib.llama_model_quantize_default_params()
    params.ftype = lib.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True  # the source is quantized already; Q8_0 keeps what Q4_1 holds
    params.nthread = threads
    status = lib.llama_model_quantize(str(source).encode(), str(part).encode(), ctypes.byref(params))
    if status != 0:
        part.unlink(missing_ok=True)
        log.warning("serving %s as shipped: llama.cpp could not write a Q8_0 copy (status %d)", source.name, status)
        return source
    os.replace(part, target)  # atomic: another server loading the same model sees the old state or the whole copy
    log.info("wrote %s: a Q8_0 copy of %s (Q4_1 runs slowly on llama.cpp's CPU kernels)", target, source.name)
    return target

