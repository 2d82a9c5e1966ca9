"""The remote engine's upstream client against the real server: the model list's background refresh, and a session
shared by every client that carries no cookies between them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from tests.ollama.conftest import TcpRelay

from frontier.engine.remote.faults import UpstreamError
from frontier.engine.remote.upstream import Upstream


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.01)


async def test_a_stale_model_list_is_answered_at_once_and_refreshed_behind_it(openai_server: str) -> None:
    calls: list[str] = []
    upstream = Upstream(openai_server, models_ttl=0.0, observe=lambda path, status, seconds: calls.append(path))
    try:
        first = await upstream.models()
        assert first and calls == ["/v1/models"]  # the first call waits for the list
        again = await upstream.models()
        assert again is first and calls == ["/v1/models"]  # stale: answered without a call to the upstream
        await _until(lambda: len(calls) == 2)  # ... which is made behind it
        fresh = await upstream.models()
        assert fresh is not first and [model["id"] for model in fresh or []] == [model["id"] for model in first]
    finally:
        await upstream.aclose()


async def test_a_failed_background_refresh_keeps_the_list_and_a_forced_refresh_reports_it(relay: TcpRelay) -> None:
    upstream = Upstream(relay.url, models_ttl=0.0)
    try:
        first = await upstream.models()
        assert first
        relay.stop()  # refused from now on, and the pooled connections cut
        assert await upstream.models() is first  # the refresh fails behind it, quietly
        await asyncio.sleep(0.5)
        assert await upstream.models() is first
        with pytest.raises(UpstreamError):
            await upstream.models(refresh=True)
        relay.start()
        assert [model["id"] for model in await upstream.models(refresh=True) or []] == [model["id"] for model in first]
    finally:
        await upstream.aclose()


@contextlib.asynccontextmanager
async def cookie_setting_upstream() -> AsyncIterator[tuple[str, list[str]]]:
    """An OpenAI-style upstream behind a load balancer that sets a sticky-session cookie on every answer
    (as AWS ALB's AWSALB does), recording the Cookie header each request brought. A test double: the real
    server sets no cookies."""
    seen: list[str] = []

    async def models(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie", ""))
        response = web.json_response({"object": "list", "data": []})
        response.set_cookie("AWSALB", f"client-{len(seen)}")
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        # By name: aiohttp's default jar ignores cookies from a bare IP address.
        yield f"http://localhost:{port}", seen
    finally:
        await runner.cleanup()


async def test_the_shared_session_carries_no_cookie_from_one_answer_to_the_next_request() -> None:
    async with cookie_setting_upstream() as (url, seen):
        upstream = Upstream(url)
        try:
            for _ in range(2):  # two clients' passthrough calls, on the one session
                answer = await upstream.forward("GET", "/v1/models", b"", {}, b"")
                assert answer.status == 200 and any(key.lower() == "set-cookie" for key, _ in answer.headers)
                await answer.aclose()
            await upstream.models(refresh=True)  # and one of the layer's own calls
        finally:
            await upstream.aclose()
    assert seen == ["", "", ""]
