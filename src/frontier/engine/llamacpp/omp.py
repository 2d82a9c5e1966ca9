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
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def on_own_thread(fn: Callable[[], T], name: str = "llamacpp-once") -> T:
    """`fn()` on a new thread that ends when it returns; the caller awaits its result or exception."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the awaiting request was cancelled meanwhile
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting coroutine, which raises it
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for it
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done
