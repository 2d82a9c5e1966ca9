"""The chat template's opening, prefilled into every slot at load, on the real default model: every slot holds
it, a first request finds it cached whatever slot it lands in, and a slot whose opening was copied answers
exactly as the slot that prefilled it (the copied KV cells are the prefilled ones), in both KV layouts."""

from __future__ import annotations

import threading

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.engine.llamacpp import chat_template
from frontier.engine.llamacpp.native import Context, Model, SamplerConfig
from frontier.engine.llamacpp.scheduler import Job, Scheduler, common_prefix
from frontier.engine.protocol import Delta, Usage
from frontier.models.inspect import read_meta

SLOTS = 4
TEMPLATE = read_meta(MODELS / DEFAULT_MODEL).chat_template or ""  # SmolLM2's: a default system prompt first


def _chat(model: Model, text: str) -> list[int]:
    rendered = chat_template.render(TEMPLATE, [{"role": "user", "content": text}])
    return model.tokenize(rendered, add_special=False, parse_special=True)


def _answers(scheduler: Scheduler, prompts: list[list[int]]) -> list[tuple[str, Usage]]:
    """Submits all at once (each takes a slot of its own) and waits for every answer."""
    parts: list[list[str]] = [[] for _ in prompts]
    usage: list[Usage | None] = [None] * len(prompts)
    done = [threading.Event() for _ in prompts]

    def emitter(i: int):  # type: ignore[no-untyped-def]
        def emit(item: Delta | Exception) -> None:
            assert not isinstance(item, Exception), item
            parts[i].append(item.text)
            if item.finish_reason:
                usage[i] = item.usage
                done[i].set()
        return emit

    for i, prompt in enumerate(prompts):
        scheduler.submit(Job(prompt=prompt, max_tokens=24, emit=emitter(i), sampling=SamplerConfig(temperature=0)))
    assert all(event.wait(60) for event in done)
    return [("".join(p), u) for p, u in zip(parts, usage, strict=True) if u is not None]


@pytest.mark.parametrize("unified", [False, True], ids=["split", "unified"])
def test_every_slot_starts_with_the_opening_and_a_copied_one_answers_as_the_prefilled_one(unified: bool) -> None:
    model = Model(MODELS / DEFAULT_MODEL)
    prompt = _chat(model, "Name a color.")
    opening = prompt[:common_prefix(prompt, _chat(model, "What is the capital of France?"))]
    assert model.token_text(opening[0]) == "<|im_start|>" and len(opening) > 10  # the system prompt and user header
    ctx = Context(model, n_ctx=SLOTS * 512, n_seq=SLOTS, n_batch=512, n_threads=2, unified=unified)
    scheduler = Scheduler(model, ctx, SLOTS, opening=opening)
    try:
        held = [ctx.lib.llama_memory_seq_pos_max(ctx.memory, seq) + 1 for seq in range(SLOTS)]
        assert held == [len(opening)] * SLOTS
        # The same chat in every slot at once: slot 0 prefilled the opening, the others got a copy of it
        answers = _answers(scheduler, [prompt] * SLOTS)
    finally:
        scheduler.close()
        ctx.close()
        model.close()
    assert [u.cached_tokens for _, u in answers] == [len(opening)] * SLOTS
    assert len({text for text, _ in answers}) == 1 and answers[0][0].strip(), answers


def test_without_prefix_reuse_no_slot_is_warmed() -> None:
    model = Model(MODELS / DEFAULT_MODEL)
    prompt = _chat(model, "Name a color.")
    ctx = Context(model, n_ctx=SLOTS * 512, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    scheduler = Scheduler(model, ctx, SLOTS, reuse_prefixes=False, opening=prompt[:20])
    try:
        assert [ctx.lib.llama_memory_seq_pos_max(ctx.memory, seq) for seq in range(SLOTS)] == [-1] * SLOTS
        assert [u.cached_tokens for _, u in _answers(scheduler, [prompt])] == [0]
    finally:
        scheduler.close()
        ctx.close()
        model.close()
