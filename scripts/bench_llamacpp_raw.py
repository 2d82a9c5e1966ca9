"""The llama.cpp engine's own speed, without HTTP or the scheduler: S sequences, each a ~100-token prompt,
prefilled in one batch, then N tokens decoded together (greedy, end-of-generation banned). Not a test.

    .venv/bin/python scripts/bench_llamacpp_raw.py MODEL.gguf [--threads 2] [--tokens 128] [--streams 8]
        [--split-kv] [--flash-attn -1|0|1] [--reps 2]

OpenMP reads OMP_WAIT_POLICY / GOMP_SPINCOUNT when llama.cpp loads; set them in the environment. With
OMP_WAIT_POLICY=UNSET, libgomp's own default applies (Frontier's bounded spin is not set).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

if os.environ.get("OMP_WAIT_POLICY") == "UNSET":
    del os.environ["OMP_WAIT_POLICY"]
    import llama_cpp  # noqa: F401  (libgomp reads its settings now, before Frontier's default is set)

from frontier.engine.llamacpp.native import Batch, Model, Sampler, SamplerConfig


class _Ctx:
    def __init__(self, ptr: object) -> None:
        self.ptr = ptr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--split-kv", action="store_true", help="a KV share per sequence instead of one pool")
    ap.add_argument("--flash-attn", type=int, default=-1, help="-1 auto, 0 off, 1 on")
    ap.add_argument("--reps", type=int, default=2, help="repetitions; the last one is reported")
    args = ap.parse_args()
    model = Model(args.model)
    lib = model.lib
    params = lib.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = 8192, 1024, 1024
    params.n_seq_max = args.streams
    params.n_threads = params.n_threads_batch = args.threads
    params.kv_unified, params.no_perf, params.flash_attn_type = not args.split_kv, True, args.flash_attn
    ctx = _Ctx(lib.llama_init_from_model(model.ptr, params))
    batch = Batch(lib, 2048)
    text = "Tell me a long story about a dragon and a knight who become friends. " * 6
    prompts = [model.tokenize(f"<|im_start|>user\nStory {i}: {text}<|im_end|>\n<|im_start|>assistant\n",
                              add_special=False, parse_special=True) for i in range(args.streams)]
    samplers = [Sampler(model, SamplerConfig(temperature=0, banned_tokens=sorted(model.eog)))
                for _ in prompts]
    prefill = decode = 0.0
    for _ in range(args.reps):
        lib.llama_memory_clear(lib.llama_get_memory(ctx.ptr), True)
        started = time.perf_counter()
        batch.clear()
        last = []
        for seq, prompt in enumerate(prompts):
            for pos, token in enumerate(prompt):
                index = batch.add(token, pos, seq, pos == len(prompt) - 1)
            last.append(index)
        batch.raw.n_tokens = batch.n
        assert lib.llama_decode(ctx.ptr, batch.raw) == 0
        tokens = [samplers[seq].sample(ctx, last[seq]) for seq in range(args.streams)]  # type: ignore[arg-type]
        prefilled = time.perf_counter()
        positions = [len(p) for p in prompts]
        for _ in range(args.tokens):
            batch.clear()
            for seq in range(args.streams):
                batch.add(tokens[seq], positions[seq], seq, True)
                positions[seq] += 1
            batch.raw.n_tokens = batch.n
            assert lib.llama_decode(ctx.ptr, batch.raw) == 0
            tokens = [samplers[seq].sample(ctx, seq) for seq in range(args.streams)]  # type: ignore[arg-type]
        prefill, decode = prefilled - started, time.perf_counter() - prefilled
    print(f"{args.model.name}: {args.streams} stream(s), {args.threads} threads, "
          f"{'split' if args.split_kv else 'unified'} KV, flash-attn {args.flash_attn}: prefill {prefill:.3f} s, "
          f"decode {args.streams * args.tokens / decode:.1f} tok/s "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '-')})")


if __name__ == "__main__":
    main()
