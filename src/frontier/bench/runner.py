"""The benchmark run: prompts built up front, then per concurrency level a warm-up (excluded) and the
measured rounds. With two targets the rounds alternate which goes first (A B, B A, ...) so that drift on the
machine hits both alike; only one target generates at a time.

Single-turn: every request is a fresh prompt. Multi-turn: every job is a conversation of `turns` turns; each
follow-up turn sends the whole history (the engine's prefix cache can reuse it) and is followed by a *cold
control*: the same history with the opening message swapped for a fresh one of the same token length, capped
at one new token, so its time to first token is the uncached prefill of a prompt of the same length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from frontier.bench import workload
from frontier.bench.clients import ChatClient, Message
from frontier.bench.record import RequestRecord
from frontier.bench.stats import LevelStats, distribution, level_stats, ratio

PromptFactory = Callable[[str, int], Awaitable[workload.Prompt]]  # (seed, tokens) -> prompt


@dataclass(frozen=True, slots=True)
class Plan:
    concurrency: tuple[int, ...]
    max_tokens: int
    prompt_tokens: int
    requests: int | None = None  # per level and round (conversations in multi-turn mode)
    duration: float | None = None  # seconds per level and round, instead of a count
    warmup: int = 2
    rounds: int = 1
    seed: int = 0
    turns: int = 1  # > 1: multi-turn mode
    turn_tokens: int = 32
    pool: int = 256  # prompts built per target in duration mode


@dataclass(slots=True)
class Job:
    """One unit of work for a worker: a prompt, or a conversation (opening, follow-ups, cold openings)."""

    opening: workload.Prompt
    follow_ups: list[workload.Prompt] = field(default_factory=list)
    cold_openings: list[workload.Prompt] = field(default_factory=list)


@dataclass(slots=True)
class TurnStats:
    turn: int
    warm_ttft_p50: float | None
    cold_ttft_p50: float | None
    speedup: float | None  # cold / warm: how much faster the cached follow-up starts
    warm_count: int
    cold_count: int

    def as_dict(self) -> dict[str, object]:
        return {"turn": self.turn, "warm_ttft_p50_s": self.warm_ttft_p50, "cold_ttft_p50_s": self.cold_ttft_p50,
                "speedup": self.speedup, "warm_count": self.warm_count, "cold_count": self.cold_count}


@dataclass(slots=True)
class TargetResult:
    name: str
    api: str
    url: str
    model: str
    levels: list[LevelStats] = field(default_factory=list)
    turns: dict[int, list[TurnStats]] = field(default_factory=dict)  # concurrency -> per follow-up turn
    ignore_eos: bool | None = None
    records: dict[int, list[RequestRecord]] = field(default_factory=dict)


def turn_stats(records: list[RequestRecord]) -> list[TurnStats]:
    """Per follow-up turn: median TTFT of the cached turn and of its cold control, and their ratio."""
    out = []
    for turn in sorted({r.turn for r in records if r.turn > 0}):
        warm = distribution(t for r in records if r.ok and r.turn == turn and not r.cold and (t := r.ttft))
        cold = distribution(t for r in records if r.ok and r.turn == turn and r.cold and (t := r.ttft))
        out.append(TurnStats(turn, warm.p50 if warm else None, cold.p50 if cold else None,
                             ratio(cold.p50 if cold else None, warm.p50 if warm else None),
                             warm.count if warm else 0, cold.count if cold else 0))
    return out


async def build_jobs(plan: Plan, make_prompt: PromptFactory, namespace: str, count: int) -> list[Job]:
    """`count` jobs whose prompts are seeded by (plan.seed, namespace, index): deterministic, all distinct."""
    jobs = []
    for i in range(count):
        key = f"{plan.seed}:{namespace}:{i}"
        job = Job(await make_prompt(key, plan.prompt_tokens))
        for t in range(1, plan.turns):
            job.follow_ups.append(await make_prompt(f"{key}:turn{t}", plan.turn_tokens))
            job.cold_openings.append(await make_prompt(f"{key}:cold{t}", plan.prompt_tokens))
        jobs.append(job)
    return jobs


async def run_job(client: ChatClient, job: Job, max_tokens: int) -> list[RequestRecord]:
    messages: list[Message] = [{"role": "user", "content": job.opening.text}]
    record, answer = await client.chat(messages, max_tokens)
    records = [record]
    for turn, (follow_up, cold) in enumerate(zip(job.follow_ups, job.cold_openings, strict=True), start=1):
        if not record.ok:
            break
        messages = [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": follow_up.text}]
        record, answer = await client.chat(messages, max_tokens, turn=turn)
        records.append(record)
        control = [{"role": "user", "content": cold.text}, *messages[1:]]
        cold_record, _ = await client.chat(control, 1, turn=turn, cold=True)
        records.append(cold_record)
    return records


async def run_batch(client: ChatClient, jobs: Iterator[Job], concurrency: int, max_tokens: int,
                    deadline: float | None = None) -> tuple[list[RequestRecord], float]:
    """`concurrency` workers take jobs until none are left (or the deadline passes; started jobs finish).
    Returns the records and the wall time from the first request to the last answer."""
    records: list[RequestRecord] = []

    async def worker() -> None:
        for job in jobs:  # a shared iterator: each job goes to exactly one worker
            records.extend(await run_job(client, job, max_tokens))
            if deadline is not None and time.perf_counter() >= deadline:
                return

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records, time.perf_counter() - started


def _jobs_for(plan: Plan, pool: list[Job], cursor: list[int], count: int | None) -> Iterator[Job]:
    """Takes jobs from the pool in order; in duration mode it wraps around (a prompt recurs only after the
    whole pool has run, long after the prefix cache has dropped it)."""
    taken = 0
    while count is None or taken < count:
        yield pool[cursor[0] % len(pool)]
        cursor[0] += 1
        taken += 1


async def run_plan(plan: Plan, targets: list[tuple[ChatClient, PromptFactory]], names: list[str],
                   progress: Callable[[str], None] = lambda _: None) -> list[TargetResult]:
    per_round = plan.requests
    needed = (len(plan.concurrency) * (plan.warmup + plan.rounds * per_round) if per_round is not None
              else plan.pool)
    pools: list[list[Job]] = []
    for (_, make_prompt), name in zip(targets, names, strict=True):
        progress(f"building {needed} prompt(s) for {name}")
        pools.append(await build_jobs(plan, make_prompt, name, needed))
    cursors = [[0] for _ in targets]
    results = [TargetResult(name, c.api, c.url, c.model) for (c, _), name in zip(targets, names, strict=True)]
    for level in plan.concurrency:
        for i, (client, _) in enumerate(targets):
            if plan.warmup:
                progress(f"{names[i]}: warm-up at concurrency {level}")
                await run_batch(client, _jobs_for(plan, pools[i], cursors[i], plan.warmup), level,
                                min(plan.max_tokens, 16))
        collected: list[list[RequestRecord]] = [[] for _ in targets]
        durations = [0.0 for _ in targets]
        for r in range(plan.rounds):
            order = list(range(len(targets)))
            if r % 2 == 1:
                order.reverse()
            for i in order:
                progress(f"{names[i]}: concurrency {level}, round {r + 1}/{plan.rounds}")
                deadline = time.perf_counter() + plan.duration if plan.duration else None
                jobs = _jobs_for(plan, pools[i], cursors[i], per_round)
                records, seconds = await run_batch(targets[i][0], jobs, level, plan.max_tokens, deadline)
                collected[i].extend(records)
                durations[i] += seconds
        for i, result in enumerate(results):
            measured = [r for r in collected[i] if not r.cold]
            result.levels.append(level_stats(level, measured, durations[i]))
            result.records[level] = collected[i]
            if plan.turns > 1:
                result.turns[level] = turn_stats(collected[i])
    for (client, _), result in zip(targets, results, strict=True):
        result.ignore_eos = getattr(client, "ignore_eos_supported", None)
    return results
