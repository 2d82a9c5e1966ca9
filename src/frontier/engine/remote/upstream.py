"""The OpenAI-compatible upstream, seen through one pooled aiohttp session.

aiohttp rather than httpx here: every proxied request makes one upstream call, and on a 2-core machine
httpx's extra layers (anyio, httpcore, h11) took the proxy's CPU per non-stream chat to 4.2 ms, against
1.8 ms with aiohttp, same app otherwise (docs/benchmarks.md, "The layer on aiohttp and plain Starlette").
httpx stays the client everywhere else.

Faults become the two exceptions of `faults.py`; bodies are read by the classes of `streams.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import Context
from typing import Any

import aiohttp
import yarl

from frontier import fastjson
from frontier.engine.remote.faults import Faults, UpstreamError, fault
from frontier.engine.remote.streams import EventStream, Forwarded, LineStream
from frontier.errors import FrontierError
from frontier.logs import REQUEST_ID
from frontier.metrics.middleware import HEADER as REQUEST_ID_HEADER
from frontier.security.auth import auth_headers

log = logging.getLogger("frontier.engine.remote")
# A /v1/models entry, as the upstream sent it (an object with at least a string "id").
Entry = dict[str, Any]

# connect covers waiting for a pooled connection too; sock_read bounds the silence between two chunks.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_connect=5.0, sock_read=300.0)
MAX_CONNECTIONS = 512
KEEPALIVE_SECONDS = 4.0
JSON_HEADERS = {"Content-Type": "application/json"}

# (upstream path, HTTP status, seconds until the answer's headers) for each call that got an answer.
Observer = Callable[[str, int, float], None]


class Upstream:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        models_ttl: float = 5.0,
        api_key: str = "",
        observe: Observer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = auth_headers(api_key)
        self._timeout = timeout
        self._observe = observe
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the server's loop
        self._faults = Faults(self.base_url)
        self._models_ttl = models_ttl
        self._models: list[Entry] | None = None
        self._models_at = -float("inf")
        self._models_lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None
        self.can_tokenize: bool | None = None  # learnt on first use

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def cached_models(self) -> list[Entry] | None:
        """The model list as last fetched, without a call (None: not fetched yet, or the upstream has none)."""
        return self._models

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Idle connections are dropped before uvicorn's 5 s keep-alive closes them from the other end,
                # so a request never goes out on a connection the server is closing (aiohttp keeps them 15 s).
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS),
                timeout=self._timeout,
                trust_env=False,
                # One session serves every client: a cookie one upstream answer set must not ride along on
                # another client's request.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Bodies travel as the upstream sent them: a passed-through body keeps its Content-Encoding,
                # and the proxy's own calls ask for none (no default Accept-Encoding).
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    def _headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The call's headers, the proxy's upstream key and the request id (both sides log the same one)."""
        out = {**headers, **self._auth}
        if (rid := REQUEST_ID.get()) != "-":
            out[REQUEST_ID_HEADER] = rid
        return out

    async def _send(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str], url: yarl.URL | None = None
    ) -> aiohttp.ClientResponse:
        started = time.perf_counter()
        with self._faults:
            response = await self._client().request(
                method, url or self.url(path), data=body, headers=self._headers(headers)
            )
        if self._observe is not None:
            self._observe(path, response.status, time.perf_counter() - started)
        return response

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            with self._faults:
                return await response.read()
        finally:
            response.release()

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        data = fastjson.dumps(body) if body is not None else b""
        response = await self._send(method, path, data, JSON_HEADERS if body is not None else {})
        content = await self._read(response)
        if response.status >= 400 and not (response.status in _ABSENT and path in _OPTIONAL_PATHS):
            raise fault(response, content)
        return response.status, content

    async def models(self, *, refresh: bool = False) -> list[Entry] | None:
        """The served models. None: the upstream has no /v1/models. A list older than the TTL is returned as
        it is while a fresh one is fetched in the background, so no request waits for the refresh (on a
        local server a /v1/models call costs a few ms); `refresh=True` and the first call wait for one."""
        if refresh or self._models_at == -float("inf"):
            return await self._fetch_models(refresh=refresh)
        if time.monotonic() - self._models_at >= self._models_ttl and (
            self._refresher is None or self._refresher.done()
        ):
            # A context of its own: the refresh is nobody's request (no request id, no request record).
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_quietly(), context=Context())
        return self._models

    async def _refresh_quietly(self) -> None:
        try:
            await self._fetch_models(refresh=False)
        except FrontierError as exc:  # the next request that needs the upstream meets the fault itself
            log.debug("background model list refresh failed: %s", exc)

    async def _fetch_models(self, *, refresh: bool) -> list[Entry] | None:
        async with self._models_lock:
            if not refresh and time.monotonic() - self._models_at < self._models_ttl:
                return self._models  # fetched while this call waited for the lock
            status, content = await self._call("GET", "/v1/models")
            if status in _ABSENT:
                self._models = None
            else:
                try:
                    entries = fastjson.loads(content)["data"]
                    self._models = [entry for entry in entries if isinstance(entry.get("id"), str) and entry["id"]]
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise UpstreamError("upstream sent an unreadable model list (GET /v1/models)") from None
            self._models_at = time.monotonic()
            return self._models

    async def post_json(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        _, content = await self._call("POST", path, body)
        try:
            data = fastjson.loads(content)
        except ValueError:
            raise UpstreamError(f"upstream sent a non-JSON answer to {path}") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"upstream sent an unexpected answer to {path}")
        return data

    async def open_stream(self, path: str, body: Mapping[str, Any]) -> EventStream:
        """Sends the request and checks the status, so a refusal is an HTTP error, not a stream line."""
        response = await self._open(path, body)
        return EventStream(response.content.iter_any(), response.release, self._faults)

    async def open_lines(self, path: str, body: Mapping[str, Any]) -> LineStream:
        response = await self._open(path, body)
        return LineStream(response.content.iter_any(), response.release, self._faults)

    async def _open(self, path: str, body: Mapping[str, Any]) -> aiohttp.ClientResponse:
        response = await self._send("POST", path, fastjson.dumps(body), JSON_HEADERS)
        if response.status >= 400:
            raise fault(response, await self._read(response))
        return response

    async def count_tokens(self, model: str, text: str) -> int | None:
        """Tokens in `text` by the upstream's tokenizer, or None when it offers none."""
        if self.can_tokenize is False:
            return None
        status, content = await self._call("POST", "/tokenize", {"model": model, "text": text})
        if status in _ABSENT:
            self.can_tokenize = False
            return None
        self.can_tokenize = True
        data = fastjson.loads(content)
        if isinstance(data.get("count"), int):
            return int(data["count"])
        return len(data.get("tokens") or [])

    async def forward(
        self, method: str, path: str, query: bytes, headers: Mapping[str, str], body: bytes
    ) -> Forwarded:
        """Passes a request through unchanged; the caller streams and closes the answer."""
        # The client's key opened the proxy; the upstream gets the proxy's own key. The request id is the
        # proxy's (the client's own only where it was safe to keep). _headers adds both.
        replaced = {"x-request-id", "authorization"} if self._auth else {"x-request-id"}
        headers = {key: value for key, value in headers.items() if key.lower() not in replaced}
        url = yarl.URL(self.url(path) + (f"?{query.decode()}" if query else ""), encoded=True)
        response = await self._send(method, path, body, headers, url)
        return Forwarded(response.status, list(response.headers.items()), response.content.iter_any(),
                         response.release)


# Paths an upstream may lack: a missing one is an answer here (None / not countable), not an error.
_OPTIONAL_PATHS = frozenset(("/v1/models", "/tokenize"))
_ABSENT = frozenset((404, 405, 501))  # how an upstream says it has no such endpoint
