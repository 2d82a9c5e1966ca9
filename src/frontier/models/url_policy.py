"""Which URLs a download may use: https, or plain http only to loopback or when the user said --insecure.

Checked twice: when a pull is planned (a clear 400 before any byte moves) and on every request the download
client sends, so a redirect from https to a plain-http host, an http catalog mirror or an http HF_ENDPOINT
is refused too, on the CLI as on the server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from frontier.models.common import SourceError


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url.strip()).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_refusal(url: str, *, insecure: bool = False) -> str | None:
    """Why `url` may not be fetched, or None when it may."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http":
        if insecure or is_loopback_url(url):
            return None
        return f"refusing to download over plain HTTP from {parts.netloc}: use https (or --insecure)"
    return f"refusing to download from {url!r}: only https URLs (plain http on loopback) are fetched"


def https_only_hook(insecure: bool) -> Callable[[httpx.Request], None]:
    """An httpx request hook: httpx runs it for every request it sends, each redirect hop included."""

    def check(request: httpx.Request) -> None:
        reason = url_refusal(str(request.url), insecure=insecure)
        if reason is not None:
            raise SourceError(reason)

    return check
