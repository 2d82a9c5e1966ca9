"""Keeping the running sequences' ids consecutive, so that a step is one pass over the weights.

With a KV stream per sequence (the split layout), llama.cpp cuts a batch into micro-batches of consecutive,
increasing sequence ids (`split_equal`, sequential), and each micro-batch is a whole pass over the weights. A
step of sequences 0, 2, 4 and 6 is four passes where 0-3 is one: measured on the default model, 46-53 ms a step
against 27-29. Streams that end at different times (chats of different lengths) leave holes, and slots taken
by least recent use fill them at random: 4 streams of varied lengths ran 88 % of their steps in 2 or more
passes (2.4 on average), at 0.84x llama-server's tokens/s.

So a new request takes a free slot that joins the running ones (choose_slot), and when the running ids still
are not one run, the fewest sequences are moved into the holes (`plan_moves`: their cells exchanged with the
hole's, which may be a conversation that has just ended, and the ids swapped), a copy of a few milliseconds
against a pass of ~10 ms every step the hole would last.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any


def runs(seqs: Collection[int]) -> int:
    """How many runs of consecutive ids `seqs` forms: the passes a step over them takes."""
    ordered = sorted(seqs)
    return sum(1 for i, seq in enumerate(ordered) if i == 0 or ordered[i - 1] != seq - 1)


def runs_added(seq: int, running: Collection[int]) -> int:
    """The runs that taking `seq` adds to `running`: +1 alone, 0 next to one run, -1 filling a hole."""
    if not running:
        return 0
    return 1 - (seq - 1 in running) - (seq + 1 in running)


def plan_moves(running: Collection[int], n_seq: int,
               weigh: Callable[[list[tuple[int, int]]], Any] | None = None) -> list[tuple[int, int]]:
    """(from, to) moves that make `running` one run: into a block of consecutive ids that already holds the
    most of them, each sequence outside it goes to a free id inside it. Among such blocks, the one whose moves
    `weigh` ranks lowest (the scheduler: those it can copy first, then the fewest bytes), else the lowest."""
    held = set(running)
    n = len(held)
    if n < 2 or runs(held) == 1:
        return []
    count = {lo: sum(1 for s in held if lo <= s < lo + n) for lo in range(n_seq - n + 1)}
    most = max(count.values())
    plans = []
    for lo in (lo for lo in sorted(count) if count[lo] == most):
        holes = [seq for seq in range(lo, lo + n) if seq not in held]
        strays = sorted(seq for seq in held if not lo <= seq < lo + n)
        plans.append(list(zip(strays, holes, strict=True)))
    return plans[0] if weigh is None else min(plans, key=weigh)
