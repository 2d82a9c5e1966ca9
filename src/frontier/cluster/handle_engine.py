"""The Engine protocol over a Ray Serve deployment handle: what the ingress's dialects call, so every API Frontier
serves runs unchanged in front of replicas on other processes or machines.

Faults: the engine's own refusals come back as themselves (Ray wraps them with its traceback; unwrapped here, so
a 404 says "model not found", not a stack). A replica that dies before the answer's first delta is retried on
another one, and so is a non-streamed answer whose replica dies before it is complete (the client never knows); one
that dies mid-stream ends the stream with an EngineError (the dialect's
error event), never a silent truncation.

Every call to the handle gets a request id of its own (`_own_id`): Ray gives a call made while serving an HTTP
request that request's id, and its router indexes waiting calls by id, so two calls of one HTTP request waiting at
once (a generation and the model-list refresh it started) left one of them unroutable: its routing task retried it
for ever, and once every routing task was held so (2 per replica), nothing was routed any more."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from frontier.engine.protocol import (
    Delta,
    EmbeddingRequest,
    Embeddings,
    EngineHealth,
    GenerationRequest,
    ModelInfo,
)
from frontier.errors import EngineError, EngineUnavailableError, FrontierError

T = TypeVar("T")

MODELS_TTL_S = 5.0
# An answer whose replica died before its first delta is tried again for this long: until Ray has declared the
# replica (or its machine) dead, the router may pick it again, prefix affinity especially (a few seconds with
# `frontier cluster up`'s node health settings).
RETRY_WINDOW_S = 45.0


class HandleEngine:
    name = "ray-serve"

    def __init__(self, handle: Any) -> None:
        self.handle = handle  # a DeploymentHandle of the engine deployment
        self._models: list[ModelInfo] = []
        self._models_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def load(self) -> None:
        await self._refresh()

    async def _refresh(self) -> None:
        self._models = await _call(_own_id(self.handle.models.remote))
        self._models_at = asyncio.get_running_loop().time()

    def models(self) -> list[ModelInfo]:
        with contextlib.suppress(RuntimeError):  # no running loop: the list as it is
            loop = asyncio.get_running_loop()
            stale = loop.time() - self._models_at > MODELS_TTL_S
            if stale and (self._refreshing is None or self._refreshing.done()):  # one refresh at a time
                self._refreshing = loop.create_task(self._refresh())
        return self._models

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        # Routed by the deployment's request router: a conversation's prefix goes back to the replica whose KV
        # cache holds it (`frontier.cluster.app`). The first argument is what the router reads.
        from ray.exceptions import RayActorError

        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + RETRY_WINDOW_S, 0.1
        while True:
            stream = _own_id(self.handle.options(stream=True).generate.remote, _routing_view(request), request)
            started = False
            held: list[Delta] = []  # a whole answer is passed on once complete: it can start again elsewhere
            try:
                async for delta in stream:
                    if request.whole:
                        held.append(delta)
                        continue
                    started = True
                    yield delta
                for delta in held:
                    yield delta
                return
            except RayActorError as exc:  # the replica died (SIGKILL, node lost) or cannot be reached
                if started:
                    raise EngineError("the engine replica serving this answer stopped mid-way") from None
                if loop.time() + pause > deadline:
                    raise EngineUnavailableError(f"no engine replica could take the request: {exc}") from None
            except Exception as exc:
                raise _unwrapped(exc) from None
            finally:
                stream.cancel()  # the client left (or the answer ended): the replica stops the generation
            await asyncio.sleep(pause)
            pause = min(2 * pause, 2.0)

    async def tokenize(self, model: str, text: str) -> list[int]:
        tokens: list[int] = await _call(_own_id(self.handle.tokenize.remote, model, text))
        return tokens

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        result: Embeddings = await _call(_own_id(self.handle.embed.remote, request))
        return result

    async def health(self) -> EngineHealth:
        try:
            health: EngineHealth = await _own_id(self.handle.health.remote)
        except Exception as exc:  # no replica answers: that is what health reports
            return EngineHealth(ok=False, reason=f"no engine replica answers: {exc}", device="ray")
        return health

    async def close(self) -> None:
        return None


def _routing_view(request: GenerationRequest) -> SimpleNamespace:
    """What the prefix-aware router matches on: an object with `messages` (plain dicts: it sums their text and
    fails on other shapes) or `prompt`, and only the one of them that is set."""
    if request.messages is not None:
        return SimpleNamespace(messages=[{"role": m.get("role"), "content": m.get("content")}
                                         for m in request.messages])
    return SimpleNamespace(prompt=request.prompt or "")


def _own_id(remote: Callable[..., T], *args: Any) -> T:
    """`remote(*args)` under a request id of its own (the module's docstring says why). Ray reads the id from its
    request context when the call is made, so the context is swapped for the call alone; the log's request id
    (what a person greps for) stays the HTTP request's."""
    from ray.serve import context
    from ray.serve._private.utils import generate_request_id

    current = context._get_serve_request_context()
    variable: Any = context._serve_request_context  # typed ContextVar[None] by its default
    token = variable.set(
        dataclasses.replace(current, _internal_request_id=generate_request_id()))
    try:
        return remote(*args)
    finally:
        variable.reset(token)


async def _call(response: Any) -> Any:
    try:
        return await response
    except Exception as exc:
        raise _unwrapped(exc) from None


def _unwrapped(exc: Exception) -> Exception:
    """The engine's own error out of Ray's wrapper (which carries the remote traceback in its message)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, FrontierError):
        return cause
    if isinstance(exc, FrontierError):
        return EngineError(f"engine replica error: {type(exc).__name__}")
    return exc
