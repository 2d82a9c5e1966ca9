"""The running sequences' ids stay consecutive (contiguous.py): a new request takes a slot next to the running
ones, and a hole left by a sequence that ended is closed by moving a running sequence's cells into it, on the
real default model, where the moved sequence goes on answering exactly as it would have unmoved.

The decode spy below only records which sequences each real `llama_decode` carried."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.engine.llamacpp import scheduler as scheduler_module
from frontier.engine.llamacpp.contiguous import plan_moves, runs, runs_added
from frontier.engine.llamacpp.native import Context, Model, SamplerConfig
from frontier.engine.llamacpp.scheduler import Job, Scheduler, _Slot, choose_slot
from frontier.engine.protocol import Delta

SLOTS = 4


@pytest.mark.parametrize(("seqs", "expected"), [([], 0), ([3], 1), ([0, 1, 2], 1), ([2, 0, 1], 1),
                                                ([0, 2], 2), ([0, 2, 4, 6], 4), ([1, 2, 5, 6, 7], 2)])
def test_runs_counts_the_passes_a_step_takes(seqs: list[int], expected: int) -> None:
    assert runs(seqs) == expected


@pytest.mark.parametrize(("seq", "running", "expected"), [
    (5, set(), 0),  # nothing runs: any slot is one run
    (3, {1, 2}, 0), (0, {1, 2}, 0),  # next to the run
    (1, {0, 2}, -1),  # fills the hole
    (5, {1, 2}, 1),  # apart: one more pass every step
])
def test_runs_added(seq: int, running: set[int], expected: int) -> None:
    assert runs_added(seq, running) == expected


@pytest.mark.parametrize(("running", "n_seq", "expected"), [
    ([0, 1, 2], 8, []),
    ([0, 2], 4, [(2, 1)]),  # the lowest block among equals
    ([0, 2, 3], 4, [(3, 1)]),  # two blocks hold two of three: one move into the lower
    ([0, 2, 4, 6], 8, [(4, 1), (6, 3)]),
    ([1, 5, 6, 7], 8, [(1, 4)]),
    ([7], 8, []),
])
def test_plan_moves_makes_one_run_with_the_fewest_moves(running: list[int], n_seq: int,
                                                        expected: list[tuple[int, int]]) -> None:
    moves = plan_moves(running, n_seq)
    assert moves == expected
    after = (set(running) - {src for src, _ in moves}) | {dst for _, dst in moves}
    assert runs(after) == (1 if running else 0) and len(after) == len(running)


def test_a_new_chat_takes_a_slot_next_to_the_running_ones() -> None:
    # slot 3 was used longest ago, but taking it would split the step into two passes; slot 1 fills the hole
    free = [_Slot(1, [1, 5, 6, 7], 5.0), _Slot(3, [1, 5, 6, 7], 1.0)]
    assert choose_slot(free, [1, 2, 9], running={0, 2}).seq == 1
    assert choose_slot(free, [1, 2, 9]).seq == 3  # the control: least recently used when nothing runs
    # a conversation's own cache still wins: its prefill saved is worth more than a pass
    free = [_Slot(1, [], 5.0), _Slot(3, [7, 8, 9, 10], 1.0)]
    assert choose_slot(free, [7, 8, 9, 10, 11], running={0, 2}).seq == 3


@pytest.fixture(scope="module")
def model() -> Iterator[Model]:
    m = Model(MODELS / DEFAULT_MODEL)
    yield m
    m.close()


def _prompt(model: Model, i: int) -> list[int]:
    return model.tokenize(f"Write a short story about a robot named R{i}.", add_special=True, parse_special=False)


def _generate(model: Model, lengths: list[int], compact: bool, monkeypatch: pytest.MonkeyPatch,
              opening: list[int] | None = None) -> tuple[list[str], list[list[int]], dict[int, list[int]]]:
    """Runs one job per length (prompts differ) on 4 split slots; returns the texts, each decode's sequences,
    and what each sequence id holds at the end (its tokens as the scheduler knows them, checked against the
    positions llama.cpp holds)."""
    if not compact:
        monkeypatch.setattr(Scheduler, "_compact", lambda self: None)
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    steps: list[list[int]] = []
    decode = ctx.decode

    def spy() -> int:
        raw, n = ctx.batch.raw, ctx.batch.n
        steps.append(sorted({raw.seq_id[i][0] for i in range(n)}))
        return decode()

    ctx.decode = spy  # type: ignore[method-assign]
    s = Scheduler(model, ctx, SLOTS, reuse_prefixes=opening is not None, opening=opening)
    texts = [""] * len(lengths)
    held: dict[int, list[int]] = {}
    done = [threading.Event() for _ in lengths]
    try:
        def job(i: int) -> Job:
            def emit(item: Delta | Exception) -> None:
                assert not isinstance(item, Exception), item
                texts[i] += item.text
                if item.finish_reason:
                    done[i].set()
            return Job(prompt=_prompt(model, i), max_tokens=lengths[i], emit=emit,
                       sampling=SamplerConfig(temperature=0, banned_tokens=sorted(model.eog)))
        with s.arriving() as submit:
            submit(*[job(i) for i in range(len(lengths))])
        assert all(d.wait(120) for d in done)
        s.close()
        for slot in s._slots:
            assert ctx.lib.llama_memory_seq_pos_max(ctx.memory, slot.seq) == len(slot.cached) - 1, slot
            held[slot.seq] = slot.cached
    finally:
        s.close()
        ctx.close()
    return texts, steps, held


def test_a_hole_is_closed_and_the_moved_sequence_answers_as_before(model: Model,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Three chats on slots 0, 1, 2; the one on slot 1 ends first, so 0 and 2 would decode in two passes a step.
    lengths = [40, 4, 40]
    texts, steps, _ = _generate(model, lengths, compact=True, monkeypatch=monkeypatch)
    after = steps[6:]  # the short one has ended (its 4 tokens: the prompt step and 3 decodes)
    assert after and all(runs(seqs) == 1 for seqs in after), after
    assert [0, 1] in after  # slot 2's sequence now runs as id 1

    control_texts, control_steps, _ = _generate(model, lengths, compact=False, monkeypatch=monkeypatch)
    assert [0, 2] in control_steps[6:]  # the control: without moves, the hole stays
    assert texts == control_texts  # moved cells hold the same conversation: not one token differs
    for i, text in enumerate(texts):
        assert len(model.tokenize(text, add_special=False, parse_special=False)) >= lengths[i] - 2, text


def test_a_sequence_too_big_to_copy_stays_where_it_is(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "_MOVE_MAX_BYTES", 0)
    texts, steps, _ = _generate(model, [40, 4, 40], compact=True, monkeypatch=monkeypatch)
    assert [0, 2] in steps[6:]
    assert all(t for t in texts)


def test_the_emptied_id_keeps_the_chat_opening_for_the_next_chat(model: Model,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = [_prompt(model, i) for i in range(3)]
    shared = next(k for k in range(len(prompts[0])) if len({tuple(p[:k + 1]) for p in prompts}) > 1)
    opening = prompts[0][:shared]
    _, steps, held = _generate(model, [40, 4, 40], compact=True, monkeypatch=monkeypatch, opening=opening)
    assert [0, 1] in steps[6:]  # the third chat moved from id 2 to id 1
    assert held[2] == opening  # and id 2 kept the opening, cells and all (checked in _generate)
    assert held[1][:len(prompts[2])] == prompts[2] and held[0][:len(prompts[0])] == prompts[0]
