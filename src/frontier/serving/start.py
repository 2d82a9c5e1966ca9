"""A generation started before any byte of the answer is sent: its first delta is pulled first, so refusals
(context, grammar, unknown model, a full queue) get a real 4xx status instead of an error event in a stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from starlette.requests import Request

from frontier.engine.protocol import Delta, Engine, GenerationRequest
from frontier.serving.client_gone import unless_gone

Started = tuple[Delta | None, AsyncGenerator[Delta, None]]


async def start(engine: Engine, req: GenerationRequest) -> Started:
    stream = engine.generate(req)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return None, stream
    except BaseException:
        await stream.aclose()
        raise
    return first, stream


async def start_unless_gone(request: Request, engine: Engine, req: GenerationRequest) -> Started | None:
    """`start`, given up (freeing the request's queue place) if the client leaves while it waits for a slot."""
    return await unless_gone(request, start(engine, req))


async def chained(first: Delta | None, rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    """The whole stream again, its first delta included."""
    if first is not None:
        yield first
    async for d in rest:
        yield d
