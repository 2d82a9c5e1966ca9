"""CORS is off unless FRONTIER_CORS_ORIGINS names origins; a bind beyond loopback without a key warns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from tests.conftest import free_port
from tests.security.conftest import ALLOWED_ORIGIN, SecuredStack, start_layer_with

from frontier.config import Settings
from frontier.security import exposure_warning, is_loopback_host

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_cors_is_off_by_default_on_both_services(openai_server: str) -> None:
    layer = start_layer_with(Settings(frontier_upstream_url=openai_server, _env_file=None))  # type: ignore[call-arg]
    try:
        for url in (openai_server + "/v1/chat/completions", layer.url + "/api/chat"):
            preflight = httpx.options(url, headers={"Origin": ALLOWED_ORIGIN, **PREFLIGHT})
            assert _cors_headers(preflight) == {}, url
            assert preflight.status_code in (404, 405)  # no CORS layer: an OPTIONS is just an unknown method
        plain = httpx.get(openai_server + "/health", headers={"Origin": ALLOWED_ORIGIN})
        assert _cors_headers(plain) == {}
    finally:
        layer.stop()


def test_preflight_from_an_allowed_origin_passes_without_the_key(secured: SecuredStack) -> None:
    for url in (secured.server + "/v1/chat/completions", secured.layer + "/api/chat"):
        preflight = httpx.options(url, headers={"Origin": ALLOWED_ORIGIN, **PREFLIGHT})
        assert preflight.status_code == 200, (url, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_preflight_from_another_origin_is_refused(secured: SecuredStack) -> None:
    for url in (secured.server + "/v1/chat/completions", secured.layer + "/api/chat"):
        preflight = httpx.options(url, headers={"Origin": "http://evil.example", **PREFLIGHT})
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers


def test_an_allowed_origins_request_still_needs_the_key(secured: SecuredStack) -> None:
    origin = {"Origin": ALLOWED_ORIGIN}
    refused = httpx.get(secured.server + "/v1/models", headers=origin)
    assert refused.status_code == 401
    # The browser can read the refusal: the CORS layer sits outside the key check.
    assert refused.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    allowed = httpx.get(secured.layer + "/api/tags", headers={**origin, **secured.auth()})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_a_wildcard_allows_any_origin(openai_server: str) -> None:
    settings = Settings(frontier_upstream_url=openai_server, frontier_cors_origins="*", _env_file=None)  # type: ignore[call-arg]
    layer = start_layer_with(settings)
    try:
        preflight = httpx.options(layer.url + "/api/chat", headers={"Origin": "http://any.example", **PREFLIGHT})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    finally:
        layer.stop()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.com", False)],
)
def test_which_bind_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    warning = exposure_warning("the server", host, 8080, api_key="")
    assert (warning is None) is loopback
    assert exposure_warning("the server", host, 8080, api_key="sk-set") is None


def test_the_warning_names_the_risk_and_the_fix() -> None:
    warning = exposure_warning("the Ollama-compatible layer", "0.0.0.0", 11434, api_key="")
    assert warning is not None
    assert "0.0.0.0:11434" in warning and "FRONTIER_API_KEY" in warning and "127.0.0.1" in warning


@pytest.mark.parametrize("command", ["proxy", "serve"])
def test_a_real_start_on_a_wildcard_address_without_a_key_prints_the_warning(tmp_path, command: str) -> None:  # type: ignore[no-untyped-def]
    """Both commands print the warning before binding. The port is held on 127.0.0.1 by this test, so the
    wildcard bind fails and the service never listens beyond loopback (network stays loopback-only)."""
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    host_var, port_var = ("OLLAMA_API_HOST", "OLLAMA_API_PORT") if command == "proxy" else (
        "MISTRAL_HOST", "MISTRAL_API_PORT")
    env = {**os.environ, host_var: "0.0.0.0", port_var: str(port), "FRONTIER_API_KEY": "",
           "MISTRAL_MODEL_ID": "absent.gguf", "MISTRAL_MODELS_PATH": str(tmp_path),
           "COLUMNS": "300"}
    try:
        done = subprocess.run([sys.executable, "-m", "frontier", command], env=env, cwd=tmp_path,
                              capture_output=True, timeout=120, check=False)
    finally:
        holder.close()
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output  # the bind failed, as arranged
    assert f"0.0.0.0:{port}, reachable from other hosts" in output, output
    assert "FRONTIER_API_KEY is not set" in output
