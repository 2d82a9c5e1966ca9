"""The sampler's own fast paths against llama.cpp's sampler chain, on real logits of the default model: both see
the same logits at every step of a real generation and must pick the same token, so a fast path can never
change an answer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.engine.llamacpp.native import Context, Model, Sampler, SamplerConfig


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[Model, Context]]:
    model = Model(MODELS / DEFAULT_MODEL)
    ctx = Context(model, n_ctx=1024, n_seq=1, n_batch=256, n_threads=2, unified=True)
    yield model, ctx
    ctx.close()
    model.close()


def _compare(model: Model, ctx: Context, cfg: SamplerConfig, steps: int = 48) -> list[int]:
    """Generates `steps` tokens; at each step the fast sampler and llama.cpp's chain judge the same logits."""
    fast, chain = Sampler(model, cfg), Sampler(model, cfg)
    chain.argmax = False  # the same configuration through llama_sampler_sample
    try:
        prompt = model.tokenize("Write a short poem about the sea and the wind.", add_special=True,
                                parse_special=False)
        ctx.forget(0)
        batch = ctx.batch
        batch.clear()
        for i, token in enumerate(prompt):
            batch.add(token, i, 0, i == len(prompt) - 1)
        assert ctx.decode() == 0
        index, tokens = batch.n - 1, []
        for _ in range(steps):
            picked = fast.sample(ctx, index)
            assert picked == chain.sample(ctx, index), tokens
            tokens.append(picked)
            batch.clear()
            index = batch.add(picked, len(prompt) + len(tokens) - 1, 0, True)
            assert ctx.decode() == 0
        return tokens
    finally:
        fast.close()
        chain.close()


def test_greedy_is_an_argmax_and_picks_what_llama_cpp_picks(loaded: tuple[Model, Context]) -> None:
    model, ctx = loaded
    tokens = _compare(model, ctx, SamplerConfig(temperature=0))
    assert len(set(tokens)) > 5  # a real text, not one token repeated


def test_greedy_with_banned_end_tokens_never_ends_and_matches(loaded: tuple[Model, Context]) -> None:
    model, ctx = loaded
    tokens = _compare(model, ctx, SamplerConfig(temperature=0, banned_tokens=sorted(model.eog)), steps=96)
    assert not set(tokens) & model.eog


def test_greedy_with_logit_biases_that_move_the_choice_matches(loaded: tuple[Model, Context]) -> None:
    model, ctx = loaded
    plain = _compare(model, ctx, SamplerConfig(temperature=0), steps=8)
    # raise a token that was not chosen, and ban the first choice: both change what greedy picks
    boosted = next(t for t in range(1000, 2000) if t not in plain)
    cfg = SamplerConfig(temperature=0, logit_bias={boosted: 100.0, plain[0]: -100.0})
    biased = _compare(model, ctx, cfg, steps=8)
    assert biased[0] == boosted
    assert plain[0] not in biased


def test_only_plain_greedy_takes_the_argmax_path(loaded: tuple[Model, Context]) -> None:
    model, _ = loaded
    for cfg in (SamplerConfig(temperature=0), SamplerConfig(), SamplerConfig(temperature=0, repeat_penalty=1.1),
                SamplerConfig(temperature=0, presence_penalty=0.5),
                SamplerConfig(temperature=0, grammar='root ::= "a"')):
        sampler = Sampler(model, cfg)
        try:
            assert sampler.argmax == (cfg.temperature == 0 and cfg.repeat_penalty == 1.0 and not cfg.presence_penalty
                                      and not cfg.grammar), cfg
        finally:
            sampler.close()


def test_logits_rows_stay_right_as_the_output_buffer_grows_and_steps_change(loaded) -> None:  # type: ignore[no-untyped-def]
    """Context.logits keeps a view per row address; every row it gives must be the row llama.cpp holds now, also
    after a step with many outputs (the output buffer grows and moves) and between steps of different shapes."""
    model, ctx = loaded
    tokens = model.tokenize("One two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                            "fifteen sixteen seventeen eighteen nineteen twenty", add_special=True, parse_special=False)
    ctx.forget(0)
    pos, seen = 0, set()
    for outputs in (1, len(tokens) // 2, 1, 3, len(tokens) // 2, 1):
        batch = ctx.batch
        batch.clear()
        chunk = tokens[:max(outputs, 2)]
        for k, token in enumerate(chunk):
            batch.add(token, pos + k, 0, k >= len(chunk) - outputs)
        pos += len(chunk)
        assert ctx.decode() == 0
        for index in range(len(chunk) - outputs, len(chunk)):
            fresh = np.ctypeslib.as_array(ctx.lib.llama_get_logits_ith(ctx.ptr, index), shape=(model.n_vocab,))
            row = ctx.logits(index)
            assert np.array_equal(row, fresh) and row.ctypes.data == fresh.ctypes.data
            seen.add(row.ctypes.data)
    assert len(seen) > 3  # rows at several addresses were served
