"""The pure parts of the key check and the settings that feed it, without a server."""

from __future__ import annotations

import pytest

from frontier.config import Settings
from frontier.security import SecurityPolicy, auth_headers, bearer_token, key_matches


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), ("Bearer", None), ("Bearer ", None),
     ("Basic abc", None), ("abc", None), ("", None), (None, None)],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_key_matches_needs_the_exact_key_and_takes_any_text() -> None:
    assert key_matches("sk-1", "sk-1")
    assert not key_matches("sk-2", "sk-1") and not key_matches("sk-1x", "sk-1") and not key_matches(None, "sk-1")
    assert not key_matches("ключ", "sk-1")  # non-ASCII compares as bytes: no TypeError, no 500


def test_auth_headers_are_empty_without_a_key() -> None:
    assert auth_headers("") == {}
    assert auth_headers("k") == {"Authorization": "Bearer k"}


def test_settings_give_one_key_to_the_stack_and_keep_it_out_of_repr() -> None:
    settings = Settings(frontier_api_key="sk-secret", frontier_cors_origins=" https://a.example, ,*", _env_file=None)  # type: ignore[call-arg]
    assert settings.upstream_api_key == "sk-secret"
    assert "sk-secret" not in repr(settings)
    assert settings.cors_origins == ["https://a.example", "*"]
    own = settings.model_copy(update={"frontier_upstream_api_key": ""})
    assert own.upstream_api_key == ""  # explicitly none upstream
    policy = SecurityPolicy.from_settings(settings.model_copy(update={"frontier_open_metrics": False}))
    assert policy.open_paths(frozenset({"/health"})) == frozenset({"/health"})
    assert SecurityPolicy().open_paths(frozenset({"/"})) == frozenset({"/", "/metrics"})
