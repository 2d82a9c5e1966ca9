"""Requests that arrive together start together (Scheduler._gather), on the real default model: an idle scheduler
woken by one request waits for those still being prepared and for the next requests of streams that just
ended, so their prompts are prefilled in one step, each by the same share (fair_share); a lone request, a lone
stream's next one, or one whose companion fails before submitting, does not wait out the gathering deadline.

The decode spy below only records which sequences each real `llama_decode` carried."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.engine.llamacpp import scheduler as scheduler_module
from frontier.engine.llamacpp.native import Context, Model, SamplerConfig
from frontier.engine.llamacpp.scheduler import Job, Scheduler
from frontier.engine.protocol import Delta

SLOTS = 4


@pytest.fixture(scope="module")
def model() -> Iterator[Model]:
    m = Model(MODELS / DEFAULT_MODEL)
    yield m
    m.close()


@pytest.fixture
def scheduler(model: Model, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Scheduler, list[Counter[int]]]]:
    # A deadline far beyond any preparation here: a step that waits for it shows as a 30 s stall, not a flake.
    monkeypatch.setattr(scheduler_module, "_GATHER_S", 30.0)
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    steps: list[Counter[int]] = []  # tokens per sequence of each decode that carried prompt tokens
    decode = ctx.decode

    def spy() -> int:
        raw, n = ctx.batch.raw, ctx.batch.n
        seqs = Counter(raw.seq_id[i][0] for i in range(n))
        if n > len(seqs):  # some sequence has several tokens: a prompt chunk
            steps.append(seqs)
        return decode()

    ctx.decode = spy  # type: ignore[method-assign]
    s = Scheduler(model, ctx, SLOTS, reuse_prefixes=False)
    yield s, steps
    s.close()
    ctx.close()


def _job(model: Model, text: str, done: threading.Event) -> Job:
    def emit(item: Delta | Exception) -> None:
        assert not isinstance(item, Exception), item
        if item.finish_reason:
            done.set()
    return Job(prompt=model.tokenize(text, add_special=True, parse_special=False), max_tokens=4, emit=emit,
               sampling=SamplerConfig(temperature=0))


def _arrive(s: Scheduler, job: Job, preparing: float, announce: bool) -> None:
    if not announce:
        time.sleep(preparing)
        s.submit(job)
        return
    with s.arriving() as submit:
        time.sleep(preparing)  # tokenizing, as the event loop does one request after another
        submit(job)


@pytest.mark.parametrize("announce", [True, False], ids=["arriving", "unannounced"])
def test_requests_prepared_together_are_prefilled_in_one_step(model: Model, scheduler, announce: bool) -> None:  # type: ignore[no-untyped-def]
    s, steps = scheduler
    done = [threading.Event() for _ in range(SLOTS)]
    jobs = [_job(model, f"Tell me about the number {i}, please, in a few words.", done[i]) for i in range(SLOTS)]
    if announce:  # all four are known to be on their way before the first is submitted
        entered = threading.Barrier(SLOTS + 1)

        def arrive(i: int) -> None:
            with s.arriving() as submit:
                entered.wait()
                time.sleep(0.01 * i)
                submit(jobs[i])
        threads = [threading.Thread(target=arrive, args=(i,)) for i in range(SLOTS)]
        for t in threads:
            t.start()
        entered.wait()
    else:
        threads = [threading.Thread(target=_arrive, args=(s, jobs[i], 0.01 * i, False)) for i in range(SLOTS)]
        for t in threads:
            t.start()
    for t in threads:
        t.join()
    assert all(d.wait(60) for d in done)
    if announce:
        assert set(steps[0]) == set(range(SLOTS)), steps  # every prompt in the first step
    else:
        assert len(steps[0]) < SLOTS, steps  # the control: the first one started alone


def _rounds(model: Model, s: Scheduler, spacing: float) -> None:
    """Two rounds of 4 streams: the second round's requests submitted as the first round's answers end, one
    after another `spacing` apart and unannounced (as a client's next calls reach the engine)."""
    for _ in range(2):
        done = [threading.Event() for _ in range(SLOTS)]
        for i in range(SLOTS):
            s.submit(_job(model, f"Tell me about the number {i}, please, in a few words.", done[i]))
            time.sleep(spacing)
        assert all(d.wait(60) for d in done)


def test_streams_that_end_together_start_their_next_requests_together(model: Model, scheduler) -> None:  # type: ignore[no-untyped-def]
    s, steps = scheduler
    _rounds(model, s, 0.01)
    second = [step for step in steps if len(step) == SLOTS]
    assert second and set(second[0].values()) == {len(_job(model, "Tell me about the number 0, please, in a few "
                                                               "words.", threading.Event()).prompt)}, steps


def test_streams_that_ended_long_ago_are_not_waited_for(model: Model, scheduler,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "_RETURN_S", 0.0)  # the control for the test above
    s, steps = scheduler
    _rounds(model, s, 0.01)
    assert all(len(step) < SLOTS for step in steps[1:]), steps


def test_a_lone_request_and_one_whose_companion_fails_do_not_wait(model: Model, scheduler) -> None:  # type: ignore[no-untyped-def]
    s, _ = scheduler
    started = time.monotonic()
    for text in ("Hello there.", "And hello again."):  # the second: a lone stream's next request
        done = threading.Event()
        _arrive(s, _job(model, text, done), 0.0, True)
        assert done.wait(12), "a lone request waited for companions that were never coming"

    # A companion that fails in preparation (a bad prompt, a cancelled client) never submits: the waiting
    # request starts once it has given up, not at the deadline.
    entered, release, done = threading.Event(), threading.Event(), threading.Event()

    def failing() -> None:
        with pytest.raises(ValueError), s.arriving():
            entered.set()
            release.wait()
            raise ValueError("the chat template refused it")

    companion = threading.Thread(target=failing)
    companion.start()
    entered.wait()
    s.submit(_job(model, "Hello again.", done))
    assert not done.wait(0.5)  # held while the companion is being prepared
    release.set()
    assert done.wait(20)
    companion.join()
    assert time.monotonic() - started < 25


def test_prompts_that_overflow_a_step_advance_by_equal_shares(model: Model) -> None:
    """A 32-token step and 4 prompts of 15: 8 tokens each, then 7 each; not 15 + 15 + 2 (one micro-batch a
    step, not two)."""
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=32, n_threads=2, unified=False)
    steps: list[Counter[int]] = []
    decode = ctx.decode

    def spy() -> int:
        raw, n = ctx.batch.raw, ctx.batch.n
        steps.append(Counter(raw.seq_id[i][0] for i in range(n)))
        return decode()

    ctx.decode = spy  # type: ignore[method-assign]
    s = Scheduler(model, ctx, SLOTS, reuse_prefixes=False)
    try:
        done = [threading.Event() for _ in range(SLOTS)]
        jobs = [_job(model, f"Number {i}: is it odd, even, or prime? Say.", done[i]) for i in range(SLOTS)]
        assert {len(j.prompt) for j in jobs} == {15}, [len(j.prompt) for j in jobs]
        with s.arriving() as submit:  # all four at once, as one request's choices
            submit(*jobs)
        assert all(d.wait(60) for d in done)
    finally:
        s.close()
        ctx.close()
    assert steps[0] == Counter({seq: 8 for seq in range(SLOTS)}), steps[:3]
    assert steps[1] == Counter({seq: 7 for seq in range(SLOTS)}), steps[:3]


def _timed(model: Model) -> tuple[Context, Scheduler, list[tuple[float, Counter[int]]]]:
    """A split scheduler whose every decode is recorded: (start time, tokens per sequence)."""
    ctx = Context(model, n_ctx=SLOTS * 256, n_seq=SLOTS, n_batch=512, n_threads=2, unified=False)
    steps: list[tuple[float, Counter[int]]] = []
    decode = ctx.decode

    def spy() -> int:
        raw, n = ctx.batch.raw, ctx.batch.n
        steps.append((time.monotonic(), Counter(raw.seq_id[i][0] for i in range(n))))
        return decode()

    ctx.decode = spy  # type: ignore[method-assign]
    return ctx, Scheduler(model, ctx, SLOTS, reuse_prefixes=False), steps


def _two_streams(model: Model, monkeypatch: pytest.MonkeyPatch, refill: float,
                 comes_back: bool) -> tuple[list[tuple[float, Counter[int]]], int]:
    """A long answer and a short one; the short one's client sends its next request 50 ms after its last chunk
    (or never). Returns every decode (start time, tokens per sequence) and the index of the short one's last."""
    monkeypatch.setattr(scheduler_module, "_REFILL_S", refill)
    ctx, s, steps = _timed(model)
    long_done, short_done, next_done = threading.Event(), threading.Event(), threading.Event()
    follow_up = _job(model, "And what comes after it?", next_done)

    def short_emit(item: Delta | Exception) -> None:
        assert not isinstance(item, Exception), item
        if item.finish_reason:
            short_done.set()
            if comes_back:
                threading.Timer(0.05, s.submit, args=(follow_up,)).start()

    long_job = _job(model, "Count from one to fifty in words.", long_done)
    long_job.max_tokens = 40
    short_job = Job(prompt=model.tokenize("Say hi.", add_special=True, parse_special=False), max_tokens=3,
                    emit=short_emit, sampling=SamplerConfig(temperature=0, banned_tokens=sorted(model.eog)))
    try:
        with s.arriving() as submit:
            submit(long_job, short_job)
        assert long_done.wait(60) and short_done.wait(60)
        assert not comes_back or next_done.wait(60)
    finally:
        s.close()
        ctx.close()
    # The short answer's last decode: its prompt's step, then two more (3 tokens; it takes slot 1, next to 0).
    return steps, [i for i, (_, seqs) in enumerate(steps) if 1 in seqs][2]


def test_a_stream_that_ended_while_others_run_gets_its_next_request_into_the_next_step(
        model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    steps, last = _two_streams(model, monkeypatch, refill=5.0, comes_back=True)
    assert max(steps[last + 1][1].values()) > 1, steps[last:last + 3]  # the follow-up's prompt, at once
    control, last = _two_streams(model, monkeypatch, refill=0.0, comes_back=True)
    assert max(control[last + 1][1].values()) == 1, control[last:last + 3]  # without waiting: a step later


def test_the_others_wait_at_most_the_refill_time_for_a_client_that_does_not_come_back(
        model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    steps, last = _two_streams(model, monkeypatch, refill=0.3, comes_back=False)
    gap = steps[last + 1][0] - steps[last][0]
    assert 0.3 <= gap < 2.0, gap  # it waited, once, and went on
    later = [t for t, _ in steps[last + 1:]]
    assert all(b - a < 0.3 for a, b in itertools.pairwise(later)), "waited again"


def test_a_choice_that_ends_before_its_siblings_is_not_waited_for(model: Model,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Two choices of one request (n=2: they share the request's emit). The client can send its next request
    # only when both have ended, so the short one's end must not hold the long one's next step back.
    monkeypatch.setattr(scheduler_module, "_REFILL_S", 0.3)
    ctx, s, steps = _timed(model)
    ended = {0: threading.Event(), 1: threading.Event()}

    def emit(item: Delta | Exception) -> None:
        assert not isinstance(item, Exception), item
        if item.finish_reason:
            ended[item.index].set()

    sampling = SamplerConfig(temperature=0, banned_tokens=sorted(model.eog))
    prompt = model.tokenize("Count from one to fifty in words.", add_special=True, parse_special=False)
    try:
        with s.arriving() as submit:
            submit(Job(prompt=prompt, max_tokens=40, emit=emit, sampling=sampling, index=0),
                   Job(prompt=prompt, max_tokens=3, emit=emit, sampling=sampling, index=1))
        assert ended[0].wait(60) and ended[1].wait(60)
    finally:
        s.close()
        ctx.close()
    last = [i for i, (_, seqs) in enumerate(steps) if 1 in seqs][2]  # the short choice's last decode
    gap = steps[last + 1][0] - steps[last][0]
    assert gap < 0.3, gap  # no refill wait (with separate requests it waits: the test above)
