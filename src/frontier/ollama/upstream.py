"""The OpenAI-compatible upstream, seen through one pooled httpx client.

Faults become two exceptions the HTTP layer renders in Ollama's shape:

    UpstreamError      (EngineError)    unreachable, timed out, 5xx, broken stream   -> 502 / 503
    UpstreamRejected   (FrontierError)  the upstream refused the request (4xx)       -> its status
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from frontier.errors import EngineError, FrontierError
from frontier.ollama.metadata import UpstreamModel
from frontier.security.auth import auth_headers

log = logging.getLogger("frontier.ollama.upstream")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=30.0, pool=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128)


class UpstreamError(EngineError):
    def __init__(self, message: str, status: int = 502, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, when the upstream said it is busy


class UpstreamRejected(FrontierError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-style error body ({"error": {"message"}} / {"error": str} / {"detail"})."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)
    return response.text.strip() or response.reason_phrase


def _retry_after(response: httpx.Response) -> float:
    """The upstream's Retry-After in seconds (the HTTP-date form is rare from APIs: 1 s then)."""
    text = response.headers.get("retry-after", "").strip()
    try:
        return max(1.0, float(text))
    except ValueError:
        return 1.0


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    message = _error_message(response)
    if response.status_code in (429, 503):
        # Ollama's clients know 503 (busy), not 429; the upstream's Retry-After hint travels on.
        raise UpstreamError(f"upstream busy: {message}", status=503, retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise UpstreamError(f"upstream error ({response.status_code}): {message}")
    if response.status_code == 401:
        # The layer's own key was refused, not the client's: a configuration fault of this server.
        raise UpstreamError(f"upstream refused this server's API key ({message}): set FRONTIER_UPSTREAM_API_KEY "
                            "to the upstream's key")
    raise UpstreamRejected(response.status_code, message)


class _Faults:
    """Maps httpx transport failures onto UpstreamError, naming the upstream."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            raise UpstreamError(f"upstream {self.base_url} timed out", status=503) from exc
        if isinstance(exc, httpx.TransportError):
            raise UpstreamError(f"upstream {self.base_url} is unavailable: {str(exc) or type(exc).__name__}") from exc


class EventStream:
    """An open SSE response: iterate `events()`, then `aclose()` (also on cancellation)."""

    def __init__(self, response: httpx.Response, faults: _Faults) -> None:
        self._response = response
        self._faults = faults
        self.completed = False  # saw `data: [DONE]`

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        event_type = ""
        with self._faults:
            async for line in self._lines():
                if line.startswith(b"event:"):
                    event_type = line[6:].strip().decode(errors="replace")
                    continue
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self.completed = True
                    return
                event = json.loads(payload)
                if event_type == "error" or (isinstance(event, dict) and event.get("error")):
                    error = event.get("error", event) if isinstance(event, dict) else event
                    message = error.get("message") if isinstance(error, dict) else error
                    raise UpstreamError(f"upstream error: {message}")
                event_type = ""
                yield event

    async def _lines(self) -> AsyncIterator[bytes]:
        """The body's lines as bytes. Splitting the bytes here, rather than through httpx's text and line
        decoders (two more generator hops per chunk), is measurably cheaper per streamed token."""
        pending = b""
        async for chunk in self._response.aiter_bytes():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.rstrip(b"\r")
        if pending:
            yield pending.rstrip(b"\r")

    async def aclose(self) -> None:
        await self._response.aclose()


class LineStream:
    """An open NDJSON response (a Frontier pull): iterate `lines()`, then `aclose()`."""

    def __init__(self, response: httpx.Response, faults: _Faults) -> None:
        self._response = response
        self._faults = faults

    async def lines(self) -> AsyncIterator[dict[str, Any]]:
        with self._faults:
            async for line in self._response.aiter_lines():
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise UpstreamError("upstream sent an unreadable progress line") from None

    async def aclose(self) -> None:
        await self._response.aclose()


class Upstream:
    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        models_ttl: float = 5.0,
        api_key: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Sent on every upstream call, a passed-in client's included (its own headers are left alone).
        self._auth = auth_headers(api_key)
        self.owns_client = client is None
        self.client = client or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, limits=DEFAULT_LIMITS, trust_env=False
        )
        self._faults = _Faults(self.base_url)
        self._models_ttl = models_ttl
        self._models: list[UpstreamModel] | None = None
        self._models_at = -float("inf")
        self._models_lock = asyncio.Lock()
        self.can_tokenize: bool | None = None  # learnt on first use

    def url(self, path: str) -> str:
        return self.base_url + path

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()

    async def models(self, *, refresh: bool = False) -> list[UpstreamModel] | None:
        """The served models, cached for a few seconds. None: the upstream has no /v1/models."""
        if not refresh and time.monotonic() - self._models_at < self._models_ttl:
            return self._models
        async with self._models_lock:
            if not refresh and time.monotonic() - self._models_at < self._models_ttl:
                return self._models
            with self._faults:
                response = await self.client.get(self.url("/v1/models"), headers=self._auth)
            if response.status_code in (404, 405):
                self._models = None
            else:
                _raise_for_status(response)
                try:
                    entries = response.json()["data"]
                    self._models = [UpstreamModel.from_openai(entry) for entry in entries if entry.get("id")]
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise UpstreamError("upstream sent an unreadable model list (GET /v1/models)") from None
            self._models_at = time.monotonic()
            return self._models

    async def post_json(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._faults:
            response = await self.client.post(self.url(path), json=body, headers=self._auth)
        _raise_for_status(response)
        try:
            data = response.json()
        except ValueError:
            raise UpstreamError(f"upstream sent a non-JSON answer to {path}") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"upstream sent an unexpected answer to {path}")
        return data

    async def open_stream(self, path: str, body: Mapping[str, Any]) -> EventStream:
        """Sends the request and checks the status, so a refusal is an HTTP error, not a stream line."""
        return EventStream(await self._open(path, body), self._faults)

    async def open_lines(self, path: str, body: Mapping[str, Any]) -> LineStream:
        return LineStream(await self._open(path, body), self._faults)

    async def _open(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        request = self.client.build_request("POST", self.url(path), json=body, headers=self._auth)
        with self._faults:
            response = await self.client.send(request, stream=True)
        if response.status_code >= 400:
            try:
                with self._faults:
                    await response.aread()
            finally:
                await response.aclose()
            _raise_for_status(response)
        return response

    async def count_tokens(self, model: str, text: str) -> int | None:
        """Tokens in `text` by the upstream's tokenizer, or None when it offers none."""
        if self.can_tokenize is False:
            return None
        with self._faults:
            response = await self.client.post(
                self.url("/tokenize"), json={"model": model, "text": text}, headers=self._auth
            )
        if response.status_code in (404, 405, 501):
            self.can_tokenize = False
            return None
        _raise_for_status(response)
        self.can_tokenize = True
        data = response.json()
        if isinstance(data.get("count"), int):
            return int(data["count"])
        return len(data.get("tokens") or [])

    async def forward(
        self, method: str, path: str, query: bytes, headers: Mapping[str, str], body: bytes
    ) -> httpx.Response:
        """Passes a request through unchanged; the caller streams and closes the response."""
        url = httpx.URL(self.url(path), query=query)
        if self._auth:
            # The client's key opened the layer; the upstream gets the layer's own upstream key.
            headers = {key: value for key, value in headers.items() if key.lower() != "authorization"} | self._auth
        request = self.client.build_request(method, url, headers=headers, content=body)
        with self._faults:
            return await self.client.send(request, stream=True)
