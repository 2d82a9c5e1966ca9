"""The order of a step's batch, on the real llama.cpp scheduler over the default model with one KV stream per
sequence: llama.cpp cuts such a batch into a full pass over the weights for each run of consecutive, increasing
sequence ids, so the batch must list its sequences in id order however they were admitted (8 streams in
admission order took 2-4 passes a step: 121 against 171 tokens/s for llama-server)."""

from __future__ import annotations

import threading

from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.engine.llamacpp.native import Context, Model, SamplerConfig
from frontier.engine.llamacpp.scheduler import Job, Scheduler
from frontier.engine.protocol import Delta


def test_a_step_lists_its_sequences_in_id_order_whatever_the_admission_order() -> None:
    model = Model(MODELS / DEFAULT_MODEL)
    ctx = Context(model, n_ctx=4 * 256, n_seq=4, n_batch=512, n_threads=2, unified=False)
    batches: list[list[int]] = []
    decode = ctx.decode

    def recording_decode() -> int:  # the real decode, after noting which sequence each batch entry feeds
        batches.append([ctx.batch.raw.seq_id[i][0] for i in range(ctx.batch.n)])
        return decode()

    ctx.decode = recording_decode  # type: ignore[method-assign]
    scheduler = Scheduler(model, ctx, 4, reuse_prefixes=False)
    done: list[threading.Event] = []
    try:
        prompt = model.tokenize("Tell me a story about a fox.", add_special=True, parse_special=False)

        def submit(max_tokens: int) -> None:
            finished = threading.Event()
            done.append(finished)

            def emit(item: Delta | Exception) -> None:
                if isinstance(item, Exception) or item.finish_reason:
                    finished.set()

            # banned EOS: every sequence runs its full length, so the slots free in a known order
            scheduler.submit(Job(prompt=prompt, max_tokens=max_tokens, emit=emit,
                                 sampling=SamplerConfig(seed=1, banned_tokens=sorted(model.eog))))

        for max_tokens in (4, 40, 40, 40):  # slots 0..3; slot 0 frees first and is taken by the next job
            submit(max_tokens)
        assert done[0].wait(60)
        submit(20)  # admitted last, into slot 0: in admission order the batch would read 1, 2, 3, 0
        assert all(event.wait(120) for event in done)
    finally:
        scheduler.close()
        ctx.close()
        model.close()
    mixed = [b for b in batches if len(set(b)) == 4]
    assert mixed, batches  # steps where all four sequences ran, the late one among them
    assert all(b == sorted(b) for b in batches), [b for b in batches if b != sorted(b)][:3]
