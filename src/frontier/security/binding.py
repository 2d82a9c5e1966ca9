"""Whether a bind address is reachable from other hosts, and the warning when it is and no key guards it."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def exposure_warning(service: str, host: str, port: int, api_key: str) -> str | None:
    """The start-up warning for `service` bound on host:port, or None when there is nothing to warn about."""
    if is_loopback_host(host):
        return None
    if api_key:
        return None
    return (
        f"{service} listens on {host}:{port}, reachable from other hosts, and FRONTIER_API_KEY is not set: "
        "anyone who can reach it can run inference and manage models. Set FRONTIER_API_KEY, or bind 127.0.0.1 "
        "(see docs/security.md)"
    )
