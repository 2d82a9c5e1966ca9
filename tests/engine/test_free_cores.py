"""The llama.cpp engine's thread count follows the cores other processes leave free (free_cores.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frontier.engine.llamacpp.free_cores import FreeCores, busy_jiffies, pick_threads


@pytest.mark.parametrize(
    ("others", "cores", "current", "most", "expected"),
    [
        (0.0, 2, 2, 2, 2),
        (0.3, 2, 2, 2, 2),  # a client parsing SSE, an editor: no thread given up
        (0.6, 2, 2, 2, 1),  # most of a core taken
        (1.0, 2, 2, 2, 1),  # a busy loop
        (2.0, 2, 2, 2, 1),  # never fewer than one
        (0.45, 2, 1, 2, 1),  # between the lines: keeps what it has (no flapping) ...
        (0.45, 2, 2, 2, 2),
        (0.3, 2, 1, 2, 2),  # ... and takes the core back once it is clearly free
        (1.0, 8, 8, 8, 7),
        (2.7, 8, 8, 8, 5),
        (0.0, 8, 8, 4, 4),  # MISTRAL_THREADS caps it
    ],
)
def test_pick_threads_leaves_the_cores_others_use(others: float, cores: int, current: int, most: int,
                                                  expected: int) -> None:
    assert pick_threads(others, cores, current, most) == expected


STAT = """cpu  300 0 30 900 10 0 5 5 0 0
cpu0 100 0 10 450 5 0 2 3 0 0
cpu1 200 0 20 450 5 0 3 2 0 0
intr 1 2 3
ctxt 99
"""


def test_busy_jiffies_counts_the_allowed_cpus_and_steal() -> None:
    assert busy_jiffies(STAT, {0}) == (100 + 10 + 2 + 3, 100 + 10 + 450 + 5 + 2 + 3)
    assert busy_jiffies(STAT, {0, 1}) == (115 + 225, 570 + 680)
    assert busy_jiffies(STAT, {5}) == (0, 0)


def test_a_busy_process_is_seen_from_the_load_it_adds(tmp_path: Path) -> None:
    # A scripted /proc/stat and clock: one second in which the CPUs did 1.9 s of work, 0.9 s of it ours.
    stat = tmp_path / "stat"
    clock, own = [0.0], [5.0]
    stat.write_text(STAT)
    cores = FreeCores(2, stat_path=stat, clock=lambda: clock[0], own_cpu=lambda: own[0])
    assert cores.enabled and cores.threads == 2
    tick = os.sysconf("SC_CLK_TCK")
    lines = STAT.splitlines()
    lines[1] = f"cpu0 {100 + tick} 0 10 450 5 0 2 3 0 0"  # cpu0 busy the whole second
    lines[2] = f"cpu1 {200 + int(0.9 * tick)} 0 20 450 5 0 3 2 0 0"
    stat.write_text("\n".join(lines))
    clock[0], own[0] = 1.0, 5.9
    if {0, 1} <= os.sched_getaffinity(0):
        assert cores.sample() == 1 and cores.threads == 1 and cores.others == pytest.approx(1.0, abs=0.05)


def test_no_proc_stat_means_the_configured_count(tmp_path: Path) -> None:
    cores = FreeCores(4, stat_path=tmp_path / "missing")
    assert not cores.enabled and cores.sample() == 4 and cores.threads == 4
    assert not FreeCores(4, adaptive=False).enabled
    assert not FreeCores(1).enabled  # nothing to give up


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a second core for the busy process to take")
def test_a_real_busy_process_costs_one_thread() -> None:
    n = len(os.sched_getaffinity(0))
    cores = FreeCores(n)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        cores.start()  # its own thread looks every half second
        time.sleep(1.2)
        threads = cores.threads
    finally:
        busy.kill()
        busy.wait()
        cores.close()
    assert cores.others >= 0.7  # other test processes may add to it, never take from it
    assert threads <= n - 1
