"""The API key: `Authorization: Bearer <key>` (or `x-api-key: <key>`, Anthropic's header) on every request but
the open paths, compared in constant time.

One header for both dialects: the OpenAI SDK sends it from OPENAI_API_KEY, litellm's `ollama` and
`ollama_chat` providers from `api_key` / OLLAMA_API_KEY, and ollama-python from OLLAMA_API_KEY or `headers=`.
A pure ASGI middleware, so streamed answers pass through untouched.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

# The refusal, in the dialect of the service: message -> a 401 response (which carries WWW-Authenticate).
Refusal = Callable[[str], Response]
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def auth_headers(key: str) -> dict[str, str]:
    """What a Frontier client sends: nothing without a key."""
    return {"Authorization": f"Bearer {key}"} if key else {}


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, per RFC 7235)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(token: str | None, key: str) -> bool:
    # compare_digest on bytes: its time does not depend on where the first differing byte is, and bytes
    # accept any token (on str it refuses non-ASCII with TypeError, which a client could trigger).
    return token is not None and hmac.compare_digest(token.encode("utf-8"), key.encode("utf-8"))


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, key: str, open_paths: frozenset[str], refuse: Refusal,
                 open_prefix: str = "", dialects: dict[str, Refusal] | None = None) -> None:
        """`open_prefix`: a path and everything under it stays open too (the browser pages). `dialects`: the
        refusal of the routes under a prefix that speak another API (Anthropic's under /v1/messages)."""
        self.app, self.key, self.open_paths, self.refuse = app, key, open_paths, refuse
        self.dialects = dialects or {}
        self.open_prefix, self.open_under = open_prefix, open_prefix + "/" if open_prefix else ""

    def _open(self, path: str) -> bool:
        return path in self.open_paths or bool(self.open_prefix) and (
            path == self.open_prefix or path.startswith(self.open_under))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
            elif name == b"x-api-key":  # how Anthropic's SDKs (and Claude Code) send the key
                api_key = value.decode("latin-1").strip()
        token = bearer_token(header)
        if key_matches(token, self.key) or key_matches(api_key, self.key):
            await self.app(scope, receive, send)
            return
        if header is None and api_key is not None:
            header, token = "x-api-key", api_key
        message = (
            "missing API key: send it as 'Authorization: Bearer <key>'" if header is None
            else "incorrect API key provided" if token is not None
            else "malformed Authorization header: expected 'Bearer <key>'"
        )
        path = scope["path"]
        refuse = next((r for prefix, r in self.dialects.items() if path == prefix or path.startswith(prefix + "/")),
                      self.refuse)
        await refuse(message)(scope, receive, send)
