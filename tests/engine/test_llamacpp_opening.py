"""The chat template's opening, prefilled into every slot at load, on the real default model: every slot holds
it, a first request finds it cached whatever slot it lands in, and the answer is the one a cold prefill gives
(the copied KV cells are the prefilled ones, in both KV layouts)."""

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


def _answer(scheduler: Scheduler, prompt: list[int]) -> tuple[str, Usage]:
    done, parts, usage = threading.Event(), [], []

    def emit(item: Delta | Exception) -> None:
        assert not isinstance(item, Exception), item
        parts.append(item.text)
        if item.finish_reason:
            usage.append(item.usage)
            done.set()

    scheduler.submit(Job(prompt=prompt, max_tokens=24, emit=emit, sampling=SamplerConfig(temperature=0)))
    assert done.wait(60)
    return "".join(parts), usage[0]


@pytest.mark.parametrize("unified", [False, True], ids=["split", "unified"])
def test_every_slot_starts_with_the_opening_and_answers_as_a_cold_prefill_does(unified: bool) -> None:
    model = Model(MODELS / DEFAULT_MODEL)
    prompts = [_chat(model, text) for text in ("Name a color.", "What is the capital of France?",
                                               "Count to five.", "Say hello in Spanish.")]
    opening = prompts[0][:common_prefix(prompts[0], prompts[1])]
    assert model.token_text(opening[0]) == "<|im_start|>" and len(opening) > 10  # the system prompt and user header
    answers: dict[bool, list[tuple[str, Usage]]] = {}
    for warm in (True, False):
        ctx = Context(model, n_ctx=SLOTS * 512, n_seq=SLOTS, n_batch=512, n_threads=2, unified=unified)
        scheduler = Scheduler(model, ctx, SLOTS, reuse_prefixes=warm, opening=opening)  # cold: every token prefilled
        try:
            held = [ctx.lib.llama_memory_seq_pos_max(ctx.memory, seq) + 1 for seq in range(SLOTS)]
            assert held == [len(opening) if warm else 0] * SLOTS
            # one after another: each lands in a slot no request used yet
            answers[warm] = [_answer(scheduler, prompt) for prompt in prompts]
        finally:
            scheduler.close()
            ctx.close()
    model.close()
    assert [u.cached_tokens for _, u in answers[True]] == [len(opening)] * SLOTS
    assert [u.cached_tokens for _, u in answers[False]] == [0] * SLOTS
    assert [text for text, _ in answers[True]] == [text for text, _ in answers[False]]
    assert all(text.strip() for text, _ in answers[True])
