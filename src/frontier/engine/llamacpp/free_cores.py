"""How many CPU threads a decode should use: as many as there are cores other processes leave free.

ggml splits every graph node across its threads and meets them at a barrier after each one (hundreds per
token), and libgomp spins at those barriers before it sleeps. When another process holds one of the cores, the
thread sharing that core waits for the kernel to give it a turn at every barrier, while its partner spins;
a spinning thread never sleeps, so the kernel's fairness gives it no head start over the busy process.
Measured on 2 cores with `python3 -c "while True: pass"` running: 2 threads fell from 100 to 1.3 tok/s
(llama-server with `-t 2`: 3-7 tok/s), 1 thread ran at 53 tok/s (docs/performance-tuning.md).

So the llama.cpp engine watches what the machine's other processes take: the busy time of the cores this
process may use (/proc/stat) less this process's own CPU time, every half second, and decodes with the cores
left. Where /proc/stat is missing (macOS), the thread count stays what was configured.

That average lags: a request arriving just after another process's burst (a build step, the client itself
preparing the call, another server's answer) started on fewer threads for up to half a second, which cost
over 100 ms of TTFT on a 64-token prompt (314 against 186 ms). So when the engine wakes from idle with threads
given up, it asks the kernel who is runnable right now (`wake`): a process still holding a core is runnable
(a busy loop always is); one whose burst ended is not, and the threads come back at once (`WAKE_LOOKS`).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

INTERVAL = 0.5  # seconds between looks (a /proc/stat read, ~50 us): shorter load cannot be told from noise
# Another process counts as holding a core when it takes more than this share of one: a client's SSE parsing
# (10-30 % of a core at 8 streams) must not cost a decode thread, a busy loop (100 %) must.
DROP_AT = 0.55
RAISE_BELOW = 0.35  # and hands it back below this share: the gap keeps a load near the line from flapping
# On waking with threads given up, the kernel is asked this many times, this far apart, before the decode starts
# on fewer threads: a burst's tail (another server's threads spinning a few ms after its last decode) passes,
# a process that holds a core does not. Free must be seen twice in a row; at most 4 ms, against the ~100 ms a
# prompt loses on half the threads.
WAKE_LOOKS, WAKE_PAUSE = 5, 0.001


def pick_threads(others: float, cores: int, current: int, most: int) -> int:
    """Threads for the next decodes, given the cores other processes used (`others`, in cores, averaged), the
    cores this process may run on, the threads now, and the most it may use."""
    # Cores taken: every whole core, and a partial one once it passes DROP_AT (RAISE_BELOW to give it back).
    whole, part = math.floor(others), others - math.floor(others)
    cut = RAISE_BELOW if cores - whole - 1 >= current else DROP_AT
    taken = whole + (1 if part > cut else 0)
    return max(1, min(most, cores - taken))


def busy_jiffies(stat: str, cpus: set[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of the given CPUs from /proc/stat's text. Steal counts as busy: a
    hypervisor's other guests take a core as surely as a local process does."""
    busy = total = 0
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(v) for v in rest.split()]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
        spent = sum(ticks[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
        busy += spent - idle
        total += spent
    return busy, total


class FreeCores:
    """Tracks the cores other processes leave free; `threads` is the count to decode with now.

    `start()` looks every INTERVAL from a small thread of its own, so that a request arriving after a quiet
    spell starts with the count of the last half second, not of the spell (another server's benchmark, say)."""

    def __init__(self, most: int, *, adaptive: bool = True, stat_path: Path = Path("/proc/stat"),
                 clock: Callable[[], float] = time.monotonic,
                 own_cpu: Callable[[], float] = time.process_time,
                 own_tasks: Path = Path("/proc/self/task")) -> None:
        self.most = most
        self.current = most
        self.others = 0.0  # cores used by other processes, last measured
        self._cpus = _allowed_cpus()
        self._path, self._clock, self._own_cpu, self._own_tasks = stat_path, clock, own_cpu, own_tasks
        self._lock = threading.Lock()  # sample() runs on the watcher thread, wake() on the engine's
        # The kernel's runnable count covers every CPU: it says something about ours only when they are all.
        self._whole_machine = len(self._cpus) >= (os.cpu_count() or 0)
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        first = self._read()
        self._enabled = adaptive and most > 1 and first is not None
        self._last = (self._clock(), self._own_cpu(), first or (0, 0))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def threads(self) -> int:
        return self.current

    def start(self) -> None:
        if self._enabled and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="free-cores", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(INTERVAL):
            self.sample()

    def sample(self) -> int:
        """Measures what other processes used since the last look, and sets the thread count from it."""
        with self._lock:
            now, stat, own = self._clock(), self._read(), self._own_cpu()
            then, own_then, (busy_then, _) = self._last
            if stat is None or now <= then:
                return self.current
            self._last = (now, own, stat)
            busy = (stat[0] - busy_then) / self._tick  # CPU seconds spent on our cores, by everyone
            self.others = max(0.0, busy - (own - own_then)) / (now - then)
            self.current = pick_threads(self.others, len(self._cpus), self.current, self.most)
            return self.current

    def wake(self) -> int:
        """Called when the engine leaves idle: takes given-up threads back if no other process is runnable now
        (the module's docstring says why), and starts the next average from now, not from the burst."""
        if not (self._enabled and self._whole_machine and self.current < self.most):
            return self.current
        with self._lock:
            others, text, free_looks = 0, "", 0
            for attempt in range(WAKE_LOOKS):
                if attempt:
                    time.sleep(WAKE_PAUSE)
                try:
                    # Our own threads change state while we look: only one runnable both before and after the
                    # kernel's count is subtracted, or a thread waking in between reads as a free core.
                    before = self._own_runnable()
                    text = self._path.read_text()
                    others = runnable(text) - min(before, self._own_runnable())
                except (OSError, ValueError):
                    return self.current
                free_looks = free_looks + 1 if others <= len(self._cpus) - self.most else 0
                if free_looks == 2:  # twice in a row: one look can still be fooled by a thread of ours
                    break
            else:
                return self.current  # never free twice in a row: the half-second average decides
            free = len(self._cpus) - max(0, others)
            if free > self.current:
                self.current = min(self.most, free)
                self.others = 0.0
                # The last look's counters start the next average (no second read of /proc/stat).
                self._last = (self._clock(), self._own_cpu(), busy_jiffies(text, self._cpus))
            return self.current

    def _own_runnable(self) -> int:
        """This process's threads that are running or runnable (the engine's own, the event loop's)."""
        count = 0
        for task in self._own_tasks.iterdir():
            with contextlib.suppress(OSError):
                # The state follows the ")" that closes the thread's name (a name may hold spaces).
                if (task / "stat").read_text().rpartition(")")[2].split()[0] == "R":
                    count += 1
        return count

    def _read(self) -> tuple[int, int] | None:
        try:
            return busy_jiffies(self._path.read_text(), self._cpus)
        except (OSError, ValueError, IndexError):
            return None


def runnable(stat: str) -> int:
    """Tasks running or waiting for a CPU right now, machine-wide (/proc/stat's procs_running)."""
    for line in stat.splitlines():
        if line.startswith("procs_running "):
            return int(line.split()[1])
    raise ValueError("no procs_running in /proc/stat")


def _allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return set(range(os.cpu_count() or 1))
