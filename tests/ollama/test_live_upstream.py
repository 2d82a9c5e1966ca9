"""The layer's upstream client: a session shared by every client that carries no cookies between them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from frontier.ollama.upstream import Upstream


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
