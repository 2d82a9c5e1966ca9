"""Draining on SIGTERM, for both services.

uvicorn's own SIGTERM handling closes the listening socket at once (new clients get "connection refused", not
an answer) and re-raises the signal at the end (exit status -15). Here the first SIGTERM starts a drain
instead: the port stays open, new requests get a 503 in the service's dialect, in-flight requests run to
completion, and once none is left (or FRONTIER_DRAIN_SECONDS have passed) uvicorn's shutdown runs and the
process exits 0. A second SIGTERM or SIGINT stops at once (uvicorn's behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Generator
from types import FrameType

import uvicorn
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontier.errors import DrainingError

log = logging.getLogger("frontier.drain")

Render = Callable[[DrainingError], Response]
# Scrapes keep working while draining: the drain itself is worth watching.
_ALWAYS_OPEN = frozenset(("/metrics",))
# What is left after the drain deadline gets this long before uvicorn cancels it.
FINAL_GRACE_S = 2


class Drain:
    """The drain state of one app: requests in progress, and whether (and until when) it is draining."""

    def __init__(self, seconds: float, retry_after: float = 2.0) -> None:
        self.seconds = seconds
        self.retry_after = retry_after
        self.in_flight = 0
        self.deadline: float | None = None  # monotonic; None = not draining

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    def begin(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds
            log.warning("draining: %d request(s) in flight, up to %.0fs; new requests get 503",
                        self.in_flight, self.seconds)

    def done(self) -> bool:
        """True once a drain has begun and nothing is left, or its time is up."""
        if self.deadline is None:
            return False
        if self.in_flight == 0:
            return True
        if time.monotonic() >= self.deadline:
            log.warning("drain time (%.0fs) is up with %d request(s) still running", self.seconds, self.in_flight)
            return True
        return False

    def refusal(self) -> DrainingError:
        return DrainingError("the server is shutting down and takes no new requests; retry shortly",
                             retry_after=self.retry_after)


class DrainMiddleware:
    """Counts requests in progress; while draining, answers new ones with the dialect's 503."""

    def __init__(self, app: ASGIApp, drain: Drain, render: Render) -> None:
        self.app = app
        self.drain = drain
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.drain.draining and scope.get("path") not in _ALWAYS_OPEN:
            response = self.render(self.drain.refusal())
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not self.drain.draining:
                raise
            # uvicorn cancels what is still running once the drain time is up: a request not yet answered
            # gets the 503 it would have got had it come now (a started stream just ends), not a 500.
            if not started:
                await self.render(self.drain.refusal())(scope, receive, send)
        finally:
            self.drain.in_flight -= 1


class DrainingServer(uvicorn.Server):
    """uvicorn's Server with the first SIGTERM turned into a drain (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        config.timeout_graceful_shutdown = FINAL_GRACE_S
        super().__init__(config)
        self.drain = drain
        self.followers: list[DrainingServer] = []  # servers of the same process that stop with this one

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.drain.draining and not self.should_exit:
            self.drain.begin()  # not recorded as a captured signal: the process then exits 0
            return
        super().handle_exit(sig, frame)
        for follower in self.followers:
            follower.should_exit, follower.force_exit = self.should_exit, self.force_exit

    async def on_tick(self, counter: int) -> bool:
        if self.drain.done():
            self.should_exit = True
        return await super().on_tick(counter)


class _Follower(DrainingServer):
    """A second server of the process: the first one takes the signals and passes them on."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def serve(app: ASGIApp, drain: Drain, **config: object) -> None:
    """uvicorn.run for a Frontier app: the same config, with draining."""
    server = DrainingServer(uvicorn.Config(app, **config), drain)  # type: ignore[arg-type]
    server.run()


def serve_together(apps: list[tuple[ASGIApp, dict[str, object]]], drain: Drain) -> None:
    """Several apps of one process, each on its own port, on one event loop and one drain: a SIGTERM drains
    them all, and the process ends when every one is done. A port that cannot be bound ends them all."""
    (first_app, first_config), *rest = apps
    leader = DrainingServer(uvicorn.Config(first_app, **first_config), drain)  # type: ignore[arg-type]
    leader.followers = [_Follower(uvicorn.Config(app, **config), drain)  # type: ignore[arg-type]
                        for app, config in rest]

    async def main() -> None:
        await asyncio.gather(leader.serve(), *(follower.serve() for follower in leader.followers))

    with asyncio.Runner(loop_factory=leader.config.get_loop_factory()) as runner:
        runner.run(main())
