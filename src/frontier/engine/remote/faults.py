"""How an OpenAI-compatible upstream fails, as two exceptions every dialect renders in its own shape:

    UpstreamError      (EngineError)    unreachable, timed out, 5xx, broken stream   -> 502 / 503
    UpstreamRejected   (FrontierError)  the upstream refused the request (4xx)       -> its status
"""

from __future__ import annotations

import aiohttp

from frontier import fastjson
from frontier.errors import EngineError, FrontierError


class UpstreamError(EngineError):
    """`kind` says what failed for the metrics: "timeout", "unreachable", or "" for an upstream's answer."""

    def __init__(self, message: str, status: int = 502, retry_after: float | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, when the upstream said it is busy
        self.kind = kind


class UpstreamRejected(FrontierError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_message(body: bytes, reason: str) -> str:
    """The message of an OpenAI-style error body ({"error": {"message"}} / {"error": str} / {"detail"})."""
    text = body.decode(errors="replace").strip()
    try:
        parsed = fastjson.loads(body)
    except ValueError:
        return text or reason
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed.get("detail"))
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)
    return text or reason


def retry_after_seconds(header: str | None) -> float:
    """The upstream's Retry-After in seconds (the HTTP-date form is rare from APIs: 1 s then)."""
    try:
        return max(1.0, float((header or "").strip()))
    except ValueError:
        return 1.0


def status_fault(status: int, message: str, retry_after: str | None) -> FrontierError:
    """What an upstream's refusal (status >= 400) means to the proxy's client."""
    if status in (429, 503):
        # Ollama's clients know 503 (busy), not 429; the upstream's Retry-After hint travels on.
        return UpstreamError(f"upstream busy: {message}", status=503, retry_after=retry_after_seconds(retry_after))
    if status >= 500:
        return UpstreamError(f"upstream error ({status}): {message}")
    if status == 401:
        # The proxy's own key was refused, not the client's: a configuration fault of this server.
        return UpstreamError(f"upstream refused this server's API key ({message}): set FRONTIER_UPSTREAM_API_KEY "
                             "to the upstream's key")
    return UpstreamRejected(status, message)


class Faults:
    """Maps aiohttp's transport failures onto UpstreamError, naming the upstream."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            raise UpstreamError(f"upstream {self.base_url} is unavailable: connection timed out",
                                kind="unreachable") from exc
        if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError from 3.11; ServerTimeoutError too
            raise UpstreamError(f"upstream {self.base_url} timed out", status=503, kind="timeout") from exc
        if isinstance(exc, aiohttp.ClientError):
            reason = str(exc) or type(exc).__name__
            raise UpstreamError(f"upstream {self.base_url} is unavailable: {reason}", kind="unreachable") from exc



def fault(response: aiohttp.ClientResponse, content: bytes) -> FrontierError:
    message = error_message(content, response.reason or "")
    return status_fault(response.status, message, response.headers.get("Retry-After"))


