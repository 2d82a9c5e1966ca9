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


def test_plan_moves_prefers_the_block_whose_moves_weigh_least() -> None:
    # running 0 and 2 on 4 ids: into {0,1} moves 2, into {1,2} or {2,3} moves 0. Sequence 2 is too big to copy.
    assert plan_moves([0, 2], 4) == [(2, 1)]  # no weights: the lowest block
    assert plan_moves([0, 2], 4, lambda moves: sum(100 if src == 2 else 1 for src, _ in moves)) == [(0, 1)]


def test_a_new_chat_takes_a_slot_next_to_the_running_ones() -> None:
    # slot 3 was used longest ago, but taking it would split the step into two passes; slot 1 fills the hole.
    # Both hold only the chat template's opening (4 tokens here), as idle slots do.
    free = [_Slot(1, [1, 5, 6, 7], 5.0), _Slot(3, [1, 5, 6, 7], 1.0)]
    assert choose_slot(free, [1, 2, 9], running={0, 2}, opening=4).seq == 1
    assert choose_slot(free, [1, 2, 9], opening=4).seq == 3  # the control: least recently used when nothing runs
    # a conversation's own cache still wins: its prefill saved is worth more than a pass
    free = [_Slot(1, [], 5.0), _Slot(3, [7, 8, 9, 10], 1.0)]
    assert choose_slot(free, [7, 8, 9, 10, 11], running={0, 2}).seq == 3


def test_a_new_chat_leaves_a_conversation_that_just_ended_in_the_hole_alone() -> None:
    # slot 1 (the hole) holds a conversation that ended a moment ago: its next turn may be on its way. The new
    # chat shares nothing with any slot, so no cache is worth continuing and the slot is chosen by rank.
    talk = [1, 5, 6, 7, 40, 41, 42]
    free = [_Slot(1, talk, 9.0), _Slot(3, [], 1.0)]
    assert choose_slot(free, [90, 91, 92], running={0, 2}, opening=4).seq == 3
    # every free slot holds a conversation: the least recently used goes, wherever it is (_compact then moves
    # the new sequence next to the others, exchanging cells with the hole, which keeps its conversation)
    free = [_Slot(1, talk, 9.0), _Slot(3, [1, 5, 6, 7, 50, 51], 1.0)]
    assert choose_slot(free, [90, 91, 92], running={0, 2}, opening=4).seq == 3


@pytest.fixture(scope="module")
def model() -> Iterator[Model]:
    m = Model(MODELS / DEFAULT_MODEL)
    yield m
    m.close()


def _prompt(model: Model, i: int) -> list[int]:
    return model.tokenize(f"Write a short story about a robot named R{i}.", add_special=True, parse_special=False)


def _generate(model: Model, lengths: list[int], compact: bool, monkeypatch: pytest.MonkeyPatch,
              opening: list[int] | None = None, prompts: list[list[int]] | None = None,
              ) -> tuple[list[str], list[list[int]], dict[int, list[int]]]:
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
            return Job(prompt=prompts[i] if prompts else _prompt(model, i), max_tokens=lengths[i], emit=emit,
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


def test_a_hole_next_to_a_sequence_too_big_to_copy_is_closed_by_moving_the_other(
        model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    long = model.tokenize("Tell me about robots. " * 30, add_special=True, parse_special=False)
    prompts = [_prompt(model, 0), _prompt(model, 1), long]
    # the long chat (id 2) cannot be copied, the short one (id 0) with any hole can
    monkeypatch.setattr(scheduler_module, "_MOVE_MAX_BYTES", len(long) * model.kv_bytes_per_cell)
    assert len(long) > len(prompts[0]) + len(prompts[1]) + 40
    texts, steps, held = _generate(model, [40, 4, 40], compact=True, monkeypatch=monkeypatch, prompts=prompts,
                                   opening=_opening(model))
    after = steps[6:]
    assert after and all(runs(seqs) == 1 for seqs in after), after  # the lowest block would have kept [0, 2]
    assert held[2][:len(long)] == long  # the long one stayed where it was
    assert all(texts)


def _opening(model: Model) -> list[int]:
    prompts = [_prompt(model, i) for i in range(3)]
    shared = next(k for k in range(len(prompts[0])) if len({tuple(p[:k + 1]) for p in prompts}) > 1)
    return prompts[0][:shared]


def test_a_conversation_that_ended_in_the_hole_keeps_its_cells(model: Model,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    opening = _opening(model)
    _, steps, held = _generate(model, [40, 4, 40], compact=True, monkeypatch=monkeypatch, opening=opening)
    after = steps[6:]
    assert after and all(runs(seqs) == 1 for seqs in after), after  # the hole was closed
    # and the short chat that ended there still has its whole conversation cached, cells and all (checked
    # against llama.cpp's positions in _generate), wherever the move left it: its next turn prefills only what
    # it adds. The long chats moved or not, each id holds one of the three conversations.
    short = _prompt(model, 1)
    kept = [tokens for tokens in held.values() if tokens[:len(short)] == short]
    assert len(kept) == 1 and len(kept[0]) > len(short), held
    for i in (0, 2):
        assert sum(1 for tokens in held.values() if tokens[:len(_prompt(model, i))] == _prompt(model, i)) == 1


def _prefill(ctx: Context, seq: int, tokens: list[int]) -> None:
    ctx.forget(seq)  # every idle slot starts out holding the chat opening
    ctx.batch.clear()
    for pos, token in enumerate(tokens):
        ctx.batch.add(token, pos, seq, pos == len(tokens) - 1)
    assert ctx.decode() == 0


def _probe(ctx: Context, seq: int, pos: int) -> list[float]:
    """The logits of one more token on `seq` at `pos` (then taken back out): what the cells make of it. The
    same cells under any id give the very same numbers; other cells, or none, do not."""
    ctx.batch.clear()
    ctx.batch.add(500, pos, seq, True)
    assert ctx.decode() == 0
    logits: list[float] = ctx.logits(0).tolist()
    ctx.forget(seq, pos)
    return logits


@pytest.fixture
def idle(model: Model) -> Iterator[Scheduler]:
    """A split scheduler with nothing to do, whose slots 0 and 1 the test fills itself (its thread waits)."""
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    s = Scheduler(model, ctx, SLOTS, reuse_prefixes=True, opening=_opening(model))
    try:
        yield s
    finally:
        s.close()
        ctx.close()


def test_a_move_exchanges_the_two_slots_cells_exactly(model: Model, idle: Scheduler) -> None:
    ctx, (running, free) = idle.ctx, idle._slots[:2]
    running.cached, free.cached = _prompt(model, 5) + [300, 301], _prompt(model, 6)
    _prefill(ctx, 0, running.cached)
    _prefill(ctx, 1, free.cached)
    mine, theirs = _probe(ctx, 0, len(running.cached)), _probe(ctx, 1, len(free.cached))
    assert mine != theirs
    idle._swap(running, free)
    assert (running.seq, free.seq) == (1, 0)
    assert _probe(ctx, 1, len(running.cached)) == mine and _probe(ctx, 0, len(free.cached)) == theirs
    assert free.cached == _prompt(model, 6)


def test_an_empty_hole_gives_the_emptied_id_the_chat_opening(model: Model, idle: Scheduler) -> None:
    ctx, (running, free), opening = idle.ctx, idle._slots[:2], _opening(model)
    running.cached = _prompt(model, 5)
    _prefill(ctx, 0, running.cached)
    ctx.forget(1)
    free.cached = []
    idle._swap(running, free)
    assert (running.seq, free.seq) == (1, 0)
    assert free.cached == opening
    assert ctx.lib.llama_memory_seq_pos_max(ctx.memory, 0) == len(opening) - 1
    assert ctx.lib.llama_memory_seq_pos_max(ctx.memory, 1) == len(running.cached) - 1


def test_a_failed_move_loses_neither_sequence(model: Model, idle: Scheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    # A test double for a fault llama.cpp cannot be made to produce on demand: writing the running sequence's
    # cells into the hole fails (llama_state_seq_set_data short).
    ctx, (running, free) = idle.ctx, idle._slots[:2]
    running.cached, free.cached = _prompt(model, 5), _prompt(model, 6)
    _prefill(ctx, 0, running.cached)
    _prefill(ctx, 1, free.cached)
    mine, theirs = _probe(ctx, 0, len(running.cached)), _probe(ctx, 1, len(free.cached))
    load = ctx.load_seq
    calls: list[int] = []

    def failing_first(seq: int, state: tuple[object, int]) -> bool:
        calls.append(seq)
        if len(calls) == 1:
            ctx.forget(seq)
            return False
        return load(seq, state)  # type: ignore[arg-type]

    monkeypatch.setattr(ctx, "load_seq", failing_first)
    idle._swap(running, free)
    assert (running.seq, free.seq) == (0, 1)  # nothing moved
    # the running sequence's cells untouched, and the hole got its own back
    assert _probe(ctx, 0, len(running.cached)) == mine and _probe(ctx, 1, len(free.cached)) == theirs
    assert free.cached == _prompt(model, 6)


def test_the_next_turn_of_a_conversation_that_ended_in_the_hole_finds_it_cached(model: Model) -> None:
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    s = Scheduler(model, ctx, SLOTS, reuse_prefixes=True, opening=_opening(model))
    sampling = SamplerConfig(temperature=0, banned_tokens=sorted(model.eog))
    usage: dict[int, int] = {}
    done = {i: threading.Event() for i in range(4)}

    def job(i: int, prompt: list[int], max_tokens: int) -> Job:
        def emit(item: Delta | Exception) -> None:
            assert not isinstance(item, Exception), item
            if item.finish_reason:
                assert item.usage is not None
                usage[i] = item.usage.cached_tokens
                done[i].set()
        return Job(prompt=prompt, max_tokens=max_tokens, emit=emit, sampling=sampling)

    try:
        with s.arriving() as submit:  # the short chat in the middle ends first and leaves the hole
            submit(*[job(i, _prompt(model, i), n) for i, n in enumerate([40, 4, 40])])
        assert all(done[i].wait(120) for i in range(3))
        talk = next(slot.cached for slot in s._slots if slot.cached[:len(_prompt(model, 1))] == _prompt(model, 1))
        assert len(talk) > len(_prompt(model, 1))  # the prompt and its answer
        follow_up = talk + model.tokenize(" And then?", add_special=False, parse_special=False)
        s.submit(job(3, follow_up, 2))
        assert done[3].wait(60)
    finally:
        s.close()
        ctx.close()
    assert usage[3] == len(talk)  # the whole conversation came from the cache, only the new words were prefilled
