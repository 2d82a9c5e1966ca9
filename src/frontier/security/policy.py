"""The security policy a service is built with, and installing it on an app (key check, then CORS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware

from frontier.config import Settings
from frontier.security.auth import ApiKeyMiddleware, Refusal


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    api_key: str = ""
    open_health: bool = True
    open_metrics: bool = True
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecurityPolicy:
        return cls(settings.frontier_api_key, settings.frontier_open_health, settings.frontier_open_metrics,
                   tuple(settings.cors_origins))

    def open_paths(self, health_paths: frozenset[str]) -> frozenset[str]:
        return (health_paths if self.open_health else frozenset()) | (
            frozenset({"/metrics"}) if self.open_metrics else frozenset()
        )


def install_key_check(app: Starlette, policy: SecurityPolicy, health_paths: frozenset[str], refuse: Refusal,
                      open_prefix: str = "", dialects: dict[str, Refusal] | None = None) -> None:
    """Adds the key check (no-op without a key). Call it before the access-log middleware is added, so the
    log sits outside the check and records refused requests too. `open_prefix`: pages that hold no data and
    ask the person for the key themselves (the browser UI)."""
    if policy.api_key:
        app.add_middleware(ApiKeyMiddleware, key=policy.api_key, open_paths=policy.open_paths(health_paths),
                           refuse=refuse, open_prefix=open_prefix, dialects=dialects or {})


def install_cors(app: Starlette, policy: SecurityPolicy) -> None:
    """Adds CORS when origins are configured. Call it last: outermost, it answers a browser's preflight
    (which carries no credentials) before the key check could refuse it."""
    if not policy.cors_origins:
        return
    origins = list(policy.cors_origins)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["*"],
        allow_headers=["*"],
        # Browsers refuse credentials with a wildcard origin; the key travels in a header, not a cookie.
        allow_credentials=False,
        expose_headers=["X-Request-ID", "Retry-After"],
    )
