"""Continuous batching over one llama.cpp context: the scheduler thread of the llama.cpp engine.

Each step builds one batch holding the next token of every sequence that is generating plus chunks of the
prompts of newly admitted ones, decodes it once, and samples every sequence that produced logits with its own
sampler chain. A sequence that finishes, or whose client leaves, gives its slot back at once.

Prefix reuse: each slot (llama.cpp sequence id) remembers the tokens its KV cells hold. A new request takes the
free slot sharing the longest prefix with its prompt and only prefills the rest, so a multi-turn chat's
follow-up, or many requests with the same system prompt, skip re-reading what is cached.

KV memory is either one unified pool or a stream of cells per sequence (engine.py chooses). When a step does
not fit, idle slots' cached prefixes are dropped first, then prompt chunks wait; a step that still cannot run
fails the newest sequence with a clear error.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from frontier.engine.llamacpp.contiguous import plan_moves, runs, runs_added
from frontier.engine.llamacpp.free_cores import FreeCores
from frontier.engine.llamacpp.native import Context, Model, Sampler, SamplerConfig
from frontier.engine.llamacpp.textstream import TextStream
from frontier.engine.protocol import Delta, FinishReason, TokenLogprob, Usage
from frontier.errors import EngineError, InvalidRequestError

log = logging.getLogger("frontier.engine")
_SWITCH_INTERVAL = 0.00025  # seconds
_GATHER_S = 0.05  # an idle scheduler waits at most this long for requests on their way (see _gather)
_RETURN_S = 0.25  # a sequence that ended this recently may have a client about to send its next request
_REFILL_S = 0.01  # with others running, the next decode waits at most this long for such a client (see _gather)
_MOVE_MAX_BYTES = 64 * 2**20  # a running sequence's cells are copied to close a hole up to this size (_compact)

Emit = Callable[[Delta | Exception], None]


@dataclass(eq=False)
class Job:
    """One sequence to generate. `emit` receives Deltas (the last one has finish_reason and usage) or one
    exception; it must be safe to call from the scheduler thread."""

    prompt: list[int]
    max_tokens: int
    sampling: SamplerConfig
    emit: Emit
    index: int = 0
    stops: list[str] = field(default_factory=list)
    top_logprobs: int | None = None  # None: no logprobs
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV cells this sequence holds, in order
    last_used: float = 0.0


@dataclass(eq=False)
class _Running:
    job: Job
    slot: _Slot
    sampler: Sampler | None
    text: TextStream
    pending: list[int]  # prompt tokens not yet decoded
    reused: int = 0  # prompt tokens found in the slot's cache
    next_token: int = -1  # sampled, not yet decoded
    generated: int = 0
    started: float = 0.0
    first_token_at: float = 0.0
    logits_index: int = -1  # where this sequence's logits sit in the current batch


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def fair_share(pending: list[int], budget: int) -> int:
    """The most prompt tokens any one sequence decodes this step: the largest t with sum(min(n, t)) <= budget,
    so that the prompts still pending advance by the same count. With a KV stream per sequence llama.cpp cuts
    a step into micro-batches that take the same number of tokens from each sequence (split_equal): 8 prompts of
    70 in a 512-token step went in as 7 x 70 + 22, which took 4 passes over the weights with the next step's
    remainder; 8 x 64 and then 8 x 6 take 2. 0 when the budget cannot give every prompt a token."""
    lo, hi = 0, max(pending, default=0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in pending) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def choose_slot(free: list[_Slot], prompt: list[int], running: Collection[int] = (), opening: int = 0) -> _Slot:
    """The free slot for `prompt`: the one whose cache it continues best, if any cache is worth continuing
    (it shares more than half of that cache or of the prompt); otherwise a slot holding no conversation (nothing
    or only the chat template's `opening`, its length), one that keeps the `running` sequence ids consecutive
    first (contiguous.py), an empty one next; and only when every free slot holds a conversation, the least
    recently used of them. Taking the longest shared prefix however short let a new chat take over a live
    conversation's slot for the few tokens of the chat template's system prompt they share, and that
    conversation's next turn found nothing cached (measured: 24 of 435 tokens); taking the slot next to the
    running ones whatever it held did the same to a conversation that had just ended there."""
    shared = {slot.seq: common_prefix(slot.cached, prompt) for slot in free}
    worth = [s for s in free if s.cached and 2 * shared[s.seq] > min(len(s.cached), len(prompt))]
    if worth:
        return max(worth, key=lambda s: (shared[s.seq], -s.last_used))

    def rank(s: _Slot) -> tuple[bool, int, bool, float]:
        talk = len(s.cached) > opening  # a conversation whose next turn may be on its way
        return talk, 0 if talk else runs_added(s.seq, running), bool(s.cached), s.last_used

    return min(free, key=rank)


class Scheduler:
    def __init__(self, model: Model, ctx: Context, n_seq: int, *, reuse_prefixes: bool = True,
                 cores: FreeCores | None = None, opening: list[int] | None = None) -> None:
        self.model = model
        self.cores = cores  # None: the context's thread count never changes
        if cores is not None:
            cores.start()
        self._reuse_prefixes = reuse_prefixes
        self.ctx = ctx
        self._slots = [_Slot(seq) for seq in range(n_seq)]
        self._opening = opening if reuse_prefixes else None
        self._waiting: deque[Job] = deque()
        self._running: list[_Running] = []
        self._wake = threading.Condition()
        self._stop = False
        self._arriving = 0  # requests between arrival and submit (tokenizing): see _gather
        self._ended: deque[float] = deque(maxlen=n_seq)  # when sequences ended, the latest, since the last _gather
        self._just_ended = 0  # sequences that ended in the last step with their clients still there
        self.failed = ""  # set if the decode loop died: health reports it
        # What a step has for its clients, handed over just before the next decode (see _flush).
        self._outbox: list[tuple[Emit, Delta | Exception]] = []
        # A decode returns needing the GIL, which the event loop may hold while it writes the last token out; with
        # Python's default 5 ms switch interval that wait was 5 % of the scheduler thread's time (py-spy, 1
        # stream). A short interval bounds it; it only applies while a thread waits for the GIL.
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL))
        # The opening is prefilled on the scheduler thread, not the caller's: see _loop.
        self._warmed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llamacpp-scheduler", daemon=True)
        self._thread.start()
        self._warmed.wait()

    def _warm(self, opening: list[int]) -> None:
        """Puts the chat template's opening (every conversation's first tokens: BOS, a default system prompt,
        the user turn's header) in every slot's cache before the first request. choose_slot keeps a new chat
        out of another conversation's slot, so until each slot had served once, a new chat prefilled those
        tokens again: 24 of SmolLM2's ~94-token bench prompts, 45 ms of a 190 ms TTFT. Prefilled once, copied."""
        batch = self.ctx.batch
        batch.clear()
        for pos, token in enumerate(opening[:batch.capacity]):
            batch.add(token, pos, self._slots[0].seq, False)
        if self.ctx.decode() != 0:
            self.ctx.forget(self._slots[0].seq)
            return
        self._slots[0].cached = opening[:batch.n]
        for slot in self._slots[1:]:
            if self.ctx.copy_seq(self._slots[0].seq, slot.seq):
                slot.cached = list(self._slots[0].cached)

    # --- called from other threads ------------------------------------------------------------------
    def submit(self, *jobs: Job, arrived: bool = False) -> None:
        """Queues the jobs (a request's choices) together. `arrived`: they end an `arriving()` request, which
        stops counting in the same breath, so the scheduler wakes once, with nothing more to wait for."""
        with self._wake:
            if self._stop or self.failed:
                raise EngineError(self.failed or "the engine is shutting down")
            self._waiting.extend(jobs)
            if arrived:
                self._arriving -= 1
            self._wake.notify()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[Callable[..., None]]:
        """Marks a request being prepared (its chat rendered and tokenized) until it submits its jobs through
        the function this yields, so an idle scheduler can wait for it to join the first step (_gather)."""
        submitted = False

        def submit(*jobs: Job) -> None:
            nonlocal submitted
            self.submit(*jobs, arrived=True)
            submitted = True

        with self._wake:
            self._arriving += 1
        try:
            yield submit
        finally:
            if not submitted:  # it failed before submitting: stop waiting for it
                with self._wake:
                    self._arriving -= 1
                    self._wake.notify()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify()

    @property
    def active(self) -> int:
        return len(self._running)

    @property
    def threads(self) -> int:
        """Threads the decodes use now."""
        return self.ctx.n_threads

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=30)
        if self.cores is not None:
            self.cores.close()

    # --- the loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            # Every decode of this context runs on this thread, the warm-up too. libgomp keeps a pool of worker
            # threads for each thread that starts a parallel region, and once the process holds more of them than
            # it has cores it cuts every barrier's spin from GOMP_SPINCOUNT to ~1,000 turns, so the workers
            # sleep and wake between a decode's operations. The warm-up on the loading thread left a second pool:
            # 8 streams ran with the decode threads busy 78 % of the time against llama-server's 87 % (omp.py).
            if self._opening:
                self._warm(self._opening)
            self._warmed.set()
            while True:
                with self._wake:
                    idle = not self._waiting and not self._running
                    while not self._stop and not self._waiting and not self._running:
                        self._wake.wait()
                    if idle:
                        now = time.monotonic()
                        self._gather(_GATHER_S, sum(1 for t in self._ended if now - t < _RETURN_S))
                        self._ended.clear()
                    refill, self._just_ended = self._just_ended if self._running else 0, 0
                    if self._stop:
                        break
                if refill:  # the ended streams' last chunks go out first: their clients answer with the next requests
                    self._flush()
                    with self._wake:
                        self._gather(_REFILL_S, refill)
                if idle and self.cores is not None:
                    self.cores.wake()  # threads given up during another process's burst come back now
                self._drop_cancelled()
                self._admit()
                self._compact()
                if self._running:
                    self._step()
                if not self._running:  # no decode comes next to hand the outbox over: do it now
                    self._flush()
        except Exception as exc:  # the C side failed in a way no request caused: fail everything, loudly
            log.exception("llama.cpp scheduler stopped")
            self.failed = f"the llama.cpp engine stopped: {exc}"
        finally:
            self._warmed.set()
            error = EngineError(self.failed or "the engine is shutting down")
            for run in list(self._running):
                self._finish(run, None, error)
            self._flush()
            with self._wake:
                waiting, self._waiting = list(self._waiting), deque()
            for job in waiting:
                job.emit(error)

    def _gather(self, longest: float, expected: int) -> None:
        """Woken from idle by a request, waits (at most _GATHER_S) for the requests on their way, so that their
        prompts are decoded in one step: those being prepared (`arriving`), and as many as there were sequences
        that ended in the last _RETURN_S, whose clients are likely sending their next ones. Streams that finish
        together (the same length, a client's parallel calls) come back together, and the event loop takes
        their requests one after another, ~3 ms each: the first used to be prefilled alone, then the rest (8
        streams on 2 cores: 155-236 ms for its 70 tokens, where in the batch they cost ~125 ms; 3-5 % of the
        throughput). A lone user's next request finds its own end counted and itself waiting: no wait.
        With other sequences running, a stream that ended in the last step is waited for (at most `longest`,
        _REFILL_S) before the next decode: its client's next request arrived 3-5 ms into that decode and waited
        out the rest of it, a whole step (median 35.6 ms of a ~38 ms step at 6 streams of varied lengths),
        before its prompt even started. Called holding _wake."""
        deadline = time.monotonic() + longest
        while (not self._stop and len(self._waiting) < len(self._slots) - len(self._running)
               and (self._arriving or len(self._waiting) < expected)
               and (left := deadline - time.monotonic()) > 0):
            self._wake.wait(left)

    def _send(self, job: Job, item: Delta | Exception) -> None:
        self._outbox.append((job.emit, item))

    def _flush(self) -> None:
        """Hands the clients what the last step produced. An emit wakes the event loop, which then wants the GIL
        that this thread holds between its short C calls: woken after each sequence's sample, it took the GIL
        for its switch interval each time, and sampling 8 sequences took 2.1 ms a step instead of 0.5 (a
        sample measured 264 us against 64 alone). Handed over just before the next decode, which releases the
        GIL for its whole length, the event loop writes the step's chunks while the batch decodes."""
        outbox, self._outbox = self._outbox, []
        for emit, item in outbox:
            emit(item)

    def _drop_cancelled(self) -> None:
        for run in [r for r in self._running if r.job.cancelled.is_set()]:
            self._finish(run, None)
        with self._wake:  # rebuilt only when a waiting job was cancelled: this runs before every step
            if any(j.cancelled.is_set() for j in self._waiting):
                self._waiting = deque(j for j in self._waiting if not j.cancelled.is_set())

    def _admit(self) -> None:
        while self._waiting:  # read without the lock: a job submitted meanwhile is admitted next step
            free = [s for s in self._slots if not any(r.slot is s for r in self._running)]
            with self._wake:
                if not free or not self._waiting:
                    return
                job = self._waiting.popleft()
            # Consecutive ids save passes only with a KV stream per sequence (contiguous.py); unified, any do.
            running = () if self.ctx.unified else {r.slot.seq for r in self._running}
            slot = choose_slot(free, job.prompt, running, len(self._opening or []))
            try:
                sampler = Sampler(self.model, job.sampling)
            except ValueError as exc:
                self._send(job, InvalidRequestError(f"response format: {exc}", param="response_format"))
                continue
            except Exception as exc:  # out of the waiting queue and not yet running: it must hear of it here
                log.exception("sampler setup failed")
                self._send(job, EngineError(f"the engine could not start this request: {exc}"))
                continue
            reuse = self._reuse(slot, job.prompt)
            run = _Running(job, slot, sampler, TextStream(job.stops), pending=job.prompt[reuse:],
                           reused=reuse, started=time.monotonic())
            self._running.append(run)

    def _compact(self) -> None:
        """Moves running sequences into the holes between the others (contiguous.py says why), when the cache
        is split per sequence: the running sequence's cells and the free id's change places and the two slots
        swap ids, so the run keeps its slot and its token list, and the free slot keeps what it held under
        the other id. A hole is most often a conversation that has just ended, whose next turn may be on its
        way: overwriting it made that turn prefill the whole conversation again."""
        running = [r.slot.seq for r in self._running]
        if self.ctx.unified or runs(running) < 2:
            return  # every step comes here: nothing is built while the running ids are one run
        by_seq = {slot.seq: slot for slot in self._slots}
        size = {seq: len(slot.cached) * self.model.kv_bytes_per_cell for seq, slot in by_seq.items()}

        def weigh(moves: list[tuple[int, int]]) -> tuple[int, int]:  # moves that can be made, then fewest bytes
            return (sum(1 for src, dst in moves if size[src] + size[dst] > _MOVE_MAX_BYTES),
                    sum(size[src] + size[dst] for src, dst in moves))

        for src, dst in plan_moves(running, len(self._slots), weigh):
            if size[src] + size[dst] > _MOVE_MAX_BYTES:
                continue  # costs more to copy than the passes it saves; no conversation is dropped to make room
            self._swap(by_seq[src], by_seq[dst])

    def _swap(self, moving: _Slot, free: _Slot) -> None:
        """Exchanges the cells of a running slot and a free one, then their ids. The running sequence is never
        lost: if its cells cannot be written to the free id, nothing moves; the free slot's cache is dropped
        only if it cannot be written back (cells and `cached` agree either way)."""
        ctx = self.ctx
        mine = ctx.save_seq(moving.seq)
        theirs = ctx.save_seq(free.seq) if free.cached else None
        if mine is None or (free.cached and theirs is None):
            return
        if not ctx.load_seq(free.seq, mine):
            if theirs is None or not ctx.load_seq(free.seq, theirs):
                free.cached = []
            return
        if theirs is not None:
            if not ctx.load_seq(moving.seq, theirs):
                free.cached = []
        else:
            # An empty free slot takes the chat template's opening from the moved cells, as every idle slot
            # holds it (_warm): the next chat it takes then prefills 70 tokens, not 94 (the bench's prompts).
            keep = common_prefix(moving.cached, self._opening or [])
            ctx.forget(moving.seq, keep)
            free.cached = moving.cached[:keep]
        moving.seq, free.seq = free.seq, moving.seq

    def _reuse(self, slot: _Slot, prompt: list[int]) -> int:
        """Keeps the slot's cached prefix shared with `prompt` (at least one prompt token is always decoded,
        for its logits); returns how many prompt tokens need no prefill."""
        keep = min(common_prefix(slot.cached, prompt), len(prompt) - 1) if self._reuse_prefixes else 0
        mem, lib = self.ctx.memory, self.ctx.lib
        if keep > 0 and (not lib.llama_memory_seq_rm(mem, slot.seq, keep, -1)
                         or lib.llama_memory_seq_pos_min(mem, slot.seq) > 0):
            keep = 0  # sliding-window caches cannot always cut a sequence: start it over
        if keep == 0:
            self.ctx.forget(slot.seq)
        slot.cached = prompt[:keep]
        return keep

    def _step(self) -> None:
        batch = self.ctx.batch
        batch.clear()
        # In sequence-id order, each prompt chunk in its sequence's place: with one KV stream per sequence
        # llama.cpp cuts a batch into micro-batches of consecutive, increasing sequence ids (split_equal,
        # sequential), each a full pass over the weights. In admission order 8 streams took 2-4 passes a step.
        order = sorted(self._running, key=lambda r: r.slot.seq)
        decoding = sum(1 for run in order if not run.pending)
        room = self._room(decoding)  # KV cells for prompt chunks
        spare = batch.capacity - decoding  # batch places for prompt chunks: decodes never wait
        share = fair_share([len(run.pending) for run in order if run.pending], min(spare, room))
        for run in order:
            run.logits_index = -1
            if not run.pending:
                run.logits_index = batch.add(run.next_token, len(run.slot.cached), run.slot.seq, True)
                continue
            take = min(len(run.pending), spare, room, share or spare)  # no share for all: first come first
            if take <= 0:
                continue
            base = len(run.slot.cached)
            for k in range(take):
                last = k == take - 1 and take == len(run.pending)
                index = batch.add(run.pending[k], base + k, run.slot.seq, last)
                if last:
                    run.logits_index = index
            room -= take
            spare -= take
        if batch.n == 0:
            self._fail_newest("the context memory is full: too many long requests at once")
            return
        self._fit_threads()
        self._flush()
        status = self.ctx.decode()
        if status == 1:  # no KV room after all: free idle caches and retry next step, else shed the newest
            if not self._evict_idle(everything=True):
                self._fail_newest("the context memory is full: too many long requests at once")
            return
        if status != 0:  # llama.cpp refused this batch: end its sequences, keep serving the others
            log.error("llama_decode failed with status %d; ending the %d sequences in the batch", status,
                      len(self._running))
            for run in list(self._running):
                self.ctx.forget(run.slot.seq)
                run.slot.cached = []
                self._finish(run, None, EngineError(f"the engine failed while generating (llama_decode {status})"))
            return
        self._after_decode()

    def _fit_threads(self) -> None:
        """Decodes with the cores other processes leave free (free_cores.py says why it matters so much)."""
        if self.cores is None:
            return
        threads = self.cores.threads
        if threads != self.ctx.n_threads:
            log.info("decoding with %d of %d threads: other processes use %.1f cores", threads, self.cores.most,
                     self.cores.others)
            self.ctx.set_threads(threads)

    def _room(self, decoding: int) -> int:
        """KV cells left for prompt chunks this step, after evicting idle caches if needed."""
        used = sum(len(s.cached) for s in self._slots) + decoding
        wanted = sum(len(r.pending) for r in self._running)
        if used + wanted > self.ctx.n_ctx:
            self._evict_idle(everything=False)
            used = sum(len(s.cached) for s in self._slots) + decoding
        return max(0, self.ctx.n_ctx - used)

    def _evict_idle(self, everything: bool) -> bool:
        busy = {id(r.slot) for r in self._running}
        idle = sorted((s for s in self._slots if id(s) not in busy and s.cached), key=lambda s: s.last_used)
        for slot in idle if everything else idle[:1]:
            self.ctx.forget(slot.seq)
            slot.cached = []
        return bool(idle)

    def _fail_newest(self, message: str) -> None:
        run = max(self._running, key=lambda r: r.started)
        self._finish(run, None, EngineError(message))

    def _after_decode(self) -> None:
        now = time.monotonic()
        for run in list(self._running):
            if run.pending:  # its chunk went in: account for the cells it now holds
                decoded = run.pending if run.logits_index >= 0 else []
                if decoded:
                    run.slot.cached.extend(decoded)
                    run.pending = []
                else:
                    self._advance_partial(run)
                if run.logits_index < 0:
                    continue
            elif run.next_token >= 0:
                run.slot.cached.append(run.next_token)
            try:
                self._sample(run, now)
            except Exception as exc:  # one sequence's failure (a sampler, a callback) is not the engine's
                log.exception("sampling failed")
                self._finish(run, None, EngineError(f"the engine failed while generating: {exc}"))

    def _advance_partial(self, run: _Running) -> None:
        """A prompt chunk that did not reach the prompt's end: count what was decoded this step."""
        batch = self.ctx.batch
        seq, base = run.slot.seq, len(run.slot.cached)
        decoded = sum(
            1 for i in range(batch.n) if batch.raw.seq_id[i][0] == seq and batch.raw.pos[i] >= base
        )
        run.slot.cached.extend(run.pending[:decoded])
        run.pending = run.pending[decoded:]

    def _sample(self, run: _Running, now: float) -> None:
        job = run.job
        assert run.sampler is not None
        token = run.sampler.sample(self.ctx, run.logits_index)
        if not 0 <= token < self.model.n_vocab:  # a grammar that allows nothing here leaves no candidate
            self._finish(run, None, InvalidRequestError(
                "the response format allows no continuation of this text", param="response_format"))
            return
        if not run.first_token_at:
            run.first_token_at = now
        if token in self.model.eog and not job.sampling.banned_tokens:
            self._finish(run, "stop")
            return
        run.generated += 1
        run.next_token = token
        piece = self.model.piece(token)
        text = run.text.push(piece)
        delta = Delta(index=job.index, text=text)
        if job.top_logprobs is not None:
            logprob, top = self.ctx.logprobs(run.logits_index, token, job.top_logprobs)
            delta.logprobs.append(TokenLogprob(
                token=piece.decode(errors="replace"), logprob=logprob, bytes=list(piece),
                top=[(self._token_str(t), lp, list(self.model.piece(t))) for t, lp in top],
            ))
        if run.text.stopped:
            if text:
                self._send(job, Delta(index=job.index, text=text))
            self._finish(run, "stop")
            return
        if text or delta.logprobs:
            self._send(job, delta)
        if run.generated >= job.max_tokens:
            self._finish(run, "length")

    def _token_str(self, token: int) -> str:
        return self.model.piece(token).decode(errors="replace")

    def _siblings(self, job: Job) -> bool:
        """Whether other choices of `job`'s request (they share its emit) are still running or waiting."""
        if any(r.job.emit is job.emit for r in self._running):
            return True
        with self._wake:
            return any(j.emit is job.emit for j in self._waiting)

    def _finish(self, run: _Running, reason: FinishReason | None, error: Exception | None = None) -> None:
        """Ends a sequence: the slot keeps its cached tokens for prefix reuse; reason None = client gone."""
        if run in self._running:
            self._running.remove(run)
        if run.sampler is not None:
            run.sampler.close()
            run.sampler = None
        run.slot.last_used = time.monotonic()
        self._ended.append(run.slot.last_used)
        # A client that left sends no next request, and one whose other choices (n > 1) still run or wait
        # sends it only when they end: waiting for it then would stall every running stream for nothing.
        if reason is not None and not self._siblings(run.job):
            self._just_ended += 1
        # A half-prefilled prompt's cells are not a usable prefix; with reuse off, no cells are: free them now,
        # since every cell held in the unified pool widens the attention of every other sequence.
        if run.pending or not self._reuse_prefixes:
            self.ctx.forget(run.slot.seq)
            run.slot.cached = []
        if error is not None:
            self._send(run.job, error)
            return
        if reason is None:
            return
        end = time.monotonic()
        first = run.first_token_at or end
        usage = Usage(
            prompt_tokens=len(run.job.prompt), completion_tokens=run.generated,
            prompt_seconds=max(first - run.job.submitted, 1e-6), completion_seconds=max(end - first, 1e-6),
            cached_tokens=run.reused,
        )
        self._send(run.job, Delta(index=run.job.index, text=run.text.finish(), finish_reason=reason, usage=usage,
                                  stop_sequence=run.text.matched or None))
