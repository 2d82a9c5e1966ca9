"""Where llama.cpp's compute may run, for the sake of libgomp's spinning.

ggml runs a decode's operations on OpenMP threads that meet at a barrier after each one. libgomp keeps a pool of
worker threads for every thread that has started a parallel region, for as long as that thread lives, and counts
all pools' threads together: once the process holds more of them than it has cores, every barrier spins ~1,000
turns instead of GOMP_SPINCOUNT before it sleeps, so the workers sleep and wake between operations and the decode
slows. Measured on 2 cores at 8 streams, with a second pool left by the warm-up on the loading thread: the decode
threads were busy 78 % of the time against llama-server's 87 %, and the process left 14 % of the machine idle.

So a context's decodes stay on its scheduler thread, and one-off compute (an embedding request) runs on a thread
of its own that ends with it, which takes its pool with it, never on a long-lived executor thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


async def on_own_thread(fn: Callable[[], T], name: str = "llamacpp-once") -> T:
    """`fn()` on a new thread that ends when it returns; the caller awaits its result or exception."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)
    finally:
        pool.shutdown(wait=False)  # its one thread exits once fn returns
