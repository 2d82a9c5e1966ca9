"""The llama.cpp engine's thread count follows the cores other processes leave free (free_cores.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def busy_process() -> Iterator[None]:
    """Another process holding a core (`while True: pass`) for the block's length."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a second core for the busy process to take")
def test_a_real_busy_process_costs_one_thread() -> None:
    n = len(os.sched_getaffinity(0))
    cores = FreeCores(n)
    try:
        with busy_process():
            time.sleep(0.2)
            cores.start()  # its own thread looks every half second
            time.sleep(1.2)
            threads = cores.threads
    finally:
        cores.close()
    assert cores.others >= 0.7  # other test processes may add to it, never take from it
    assert threads <= n - 1


def _tasks(tmp_path: Path, states: str) -> Path:
    """A scripted /proc/self/task: one thread per letter of `states` (R runnable, S sleeping)."""
    tasks = tmp_path / "task"
    for n, state in enumerate(states):
        (tasks / str(100 + n)).mkdir(parents=True)
        (tasks / str(100 + n) / "stat").write_text(f"{100 + n} (llama worker {n}) {state} 1 2 3\n")
    return tasks


def _given_up_one(tmp_path: Path, procs_running: int, own: str) -> FreeCores:
    stat = tmp_path / "stat"
    stat.write_text(STAT + f"procs_running {procs_running}\n")
    cores = FreeCores(2, stat_path=stat, own_tasks=_tasks(tmp_path, own))
    cores.current = 1  # a burst of another process's work was measured: one thread given up
    return cores


@pytest.mark.skipif(os.sched_getaffinity(0) != {0, 1} or os.cpu_count() != 2, reason="scripted for 2 CPUs")
def test_waking_takes_threads_back_when_no_other_process_is_runnable(tmp_path: Path) -> None:
    # The engine's own threads (its scheduler, the event loop) are all that run: the burst is over.
    cores = _given_up_one(tmp_path, procs_running=2, own="RRS")
    assert cores.wake() == 2 and cores.threads == 2 and cores.others == 0.0


@pytest.mark.skipif(os.sched_getaffinity(0) != {0, 1} or os.cpu_count() != 2, reason="scripted for 2 CPUs")
def test_waking_keeps_the_threads_given_up_while_another_process_is_runnable(tmp_path: Path) -> None:
    cores = _given_up_one(tmp_path, procs_running=2, own="RSS")  # one runnable task is not ours
    started = time.monotonic()
    assert cores.wake() == 1 and cores.threads == 1
    assert time.monotonic() - started < 0.1  # a few short looks, not a wait


def test_waking_with_every_thread_in_use_reads_nothing(tmp_path: Path) -> None:
    cores = FreeCores(2, stat_path=tmp_path / "missing-stat", own_tasks=tmp_path / "missing-tasks")
    assert cores.wake() == 2  # already at the most: no look at all (the files do not exist)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or len(os.sched_getaffinity(0)) != os.cpu_count(),
                    reason="needs the whole machine's CPUs, two or more")
def test_a_real_busy_process_is_seen_on_waking_and_a_stopped_one_is_not() -> None:
    n = len(os.sched_getaffinity(0))
    cores = FreeCores(n)
    with busy_process():
        time.sleep(0.3)
        cores.current = n - 1
        assert cores.wake() == n - 1
    # Other test processes may be running at the instant it looks: within a second one look finds them idle.
    for _ in range(20):
        cores.current = n - 1
        if cores.wake() == n:
            break
        time.sleep(0.05)
    assert cores.threads == n
