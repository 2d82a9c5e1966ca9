"""One ASGI middleware per app: request id, in-flight gauge, request metrics and the access line.

Pure ASGI (not BaseHTTPMiddleware) so streaming bodies pass untouched and the ContextVars it sets reach the
endpoint and the tasks it spawns.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontier.logs import REQUEST_ID
from frontier.metrics import record as records
from frontier.metrics.record import RequestRecord
from frontier.metrics.service import ServiceMetrics

HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
# A client's id is reused only when it is short and plain: it ends up in logs and response headers.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
# Scrapes and probes run every few seconds; their access lines would drown the real traffic at info.
_QUIET = frozenset(("/metrics", "/health"))

access_log = logging.getLogger("frontier.access")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is safe to echo and log, else a fresh one."""
    for key, value in headers:
        if key.lower() == _HEADER_KEY:
            text = value.decode("latin-1").strip()
            if _SAFE_ID.match(text):
                return text
            break
    return os.urandom(16).hex()  # a uuid4's 32 hex digits, without building a UUID per request


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/blobs/{digest}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(scope.get("headers") or [])
        record = RequestRecord(self.metrics, rid, scope.get("method", ""), started=time.perf_counter())
        status = 500  # what the client sees when the app raises before answering
        rid_header = (_HEADER_KEY, rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        # Unlabelled: the route is known only after routing, inside the app.
        in_flight = self.metrics.in_flight
        rid_token = REQUEST_ID.set(rid)
        record_token = records.enter(record)
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            record.error_kind = record.error_kind or records.error_kind(exc)
            raise
        finally:
            in_flight.dec()
            self._finish(record, route_template(scope), status)
            records.leave(record_token)
            REQUEST_ID.reset(rid_token)

    def _finish(self, record: RequestRecord, endpoint: str, status: int) -> None:
        record.endpoint = endpoint
        seconds = time.perf_counter() - record.started
        model = record.model_label()
        self.metrics.requests.labels(endpoint, model, str(status)).inc()
        self.metrics.request_seconds.labels(endpoint, model).observe(seconds)
        if status >= 400 or record.error_kind:
            self.metrics.errors.labels(endpoint, record.error_kind or records.status_kind(status)).inc()
        level = logging.DEBUG if endpoint in _QUIET else logging.INFO
        if access_log.isEnabledFor(level):
            tokens = ""
            if record.prompt_tokens is not None:
                tokens = f" tokens={record.prompt_tokens}+{record.completion_tokens}"
            access_log.log(
                level, "%s %s %d %.3fs%s", record.method, endpoint, status, seconds, tokens,
                extra={"method": record.method, "route": endpoint, "status": status,
                       "duration_s": round(seconds, 6), "model": record.model or None,
                       "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
                       "request_id": record.request_id},
            )
