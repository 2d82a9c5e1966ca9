"""FRONTIER_API_KEY on the live stack: every endpoint but the open ones refuses a request without the key,
in each API's own dialect, and the real clients (openai, ollama, litellm) get in with it."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL
from tests.ollama.conftest import MODEL
from tests.security.conftest import SecuredStack, start_layer_with

import anthropic
import ollama
import openai
from frontier.config import Settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Items? .* (is|are) using the `ReadOnly` qualifier:UserWarning")
HELLO = [{"role": "user", "content": "Say hi."}]
# The layer's routes (it publishes no OpenAPI document); /nope shows the check runs before routing.
LAYER_ROUTES = [
    ("GET", "/api/tags"), ("GET", "/api/ps"), ("POST", "/api/show"), ("POST", "/api/pull"),
    ("DELETE", "/api/delete"), ("POST", "/api/copy"), ("POST", "/api/create"), ("POST", "/api/push"),
    ("HEAD", "/api/blobs/sha256:00"), ("POST", "/api/generate"), ("POST", "/api/chat"), ("POST", "/api/embed"),
    ("POST", "/api/embeddings"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/nope"),
]


def _server_routes(stack: SecuredStack) -> list[tuple[str, str]]:
    """Every operation the server's OpenAPI document lists (fetched with the key), path parameters filled."""
    schema = httpx.get(stack.server + "/openapi.json", headers=stack.auth(), timeout=10).json()
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, operations in schema["paths"].items() for method in operations
    ]
    return routes + [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/nope")]


def test_every_server_endpoint_but_health_and_metrics_wants_the_key(secured: SecuredStack) -> None:
    routes = _server_routes(secured)
    assert ("POST", "/v1/chat/completions") in routes and ("POST", "/frontier/models/delete") in routes
    for method, path in routes:
        if path in ("/health", "/metrics"):
            continue
        response = httpx.request(method, secured.server + path, json={}, timeout=10)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        if path.startswith("/v1/messages"):  # Anthropic's API: its own 401
            assert response.json()["type"] == "error" and error["type"] == "authentication_error"
        else:
            assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        assert "missing API key" in error["message"]


def test_every_layer_endpoint_but_the_health_ones_wants_the_key(secured: SecuredStack) -> None:
    for method, path in LAYER_ROUTES:
        response = httpx.request(method, secured.layer + path, json={}, timeout=10)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        if method != "HEAD":
            assert set(response.json()) == {"error"} and "API key" in response.json()["error"]


def test_health_and_metrics_stay_open_by_default(secured: SecuredStack) -> None:
    assert httpx.get(secured.server + "/health", timeout=10).status_code == 200
    assert "frontier_" in httpx.get(secured.server + "/metrics", timeout=10).text
    assert httpx.get(secured.layer + "/", timeout=10).text == "Ollama is running"
    assert httpx.head(secured.layer + "/", timeout=10).status_code == 200
    assert httpx.get(secured.layer + "/api/version", timeout=10).json()["version"]
    assert httpx.get(secured.layer + "/metrics", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer", "Bearer  two words", "bearer sk-frontier-ïñvalid", "Token x"],
)
def test_a_wrong_or_malformed_header_is_a_401_never_a_crash(secured: SecuredStack, header: str) -> None:
    for url in (secured.server + "/v1/models", secured.layer + "/api/tags"):
        response = httpx.get(url, headers={"Authorization": header.encode("utf-8")}, timeout=10)  # type: ignore[dict-item]
        assert response.status_code == 401, (url, header)


def test_the_scheme_is_case_insensitive(secured: SecuredStack) -> None:
    response = httpx.get(secured.server + "/v1/models", headers={"Authorization": f"bearer {secured.key}"})
    assert response.status_code == 200


def test_openai_sdk_with_the_key_chats_and_without_it_gets_authentication_error(secured: SecuredStack) -> None:
    with openai.OpenAI(base_url=secured.server + "/v1", api_key=secured.key, max_retries=0) as client:
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(model=model, messages=HELLO, max_tokens=2)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    wrong = openai.OpenAI(base_url=secured.server + "/v1", api_key="sk-not-the-key", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"


def test_openai_sdk_through_the_layers_v1_passthrough(secured: SecuredStack) -> None:
    """The layer checks the client's key, then forwards with its own upstream key."""
    with openai.OpenAI(base_url=secured.layer + "/v1", api_key=secured.key, max_retries=0) as client:
        assert client.models.list().data[0].id  # the upstream listed its models to the layer's key
    wrong = openai.OpenAI(base_url=secured.layer + "/v1", api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_ollama_client_with_headers_or_ollama_api_key(secured: SecuredStack, monkeypatch: pytest.MonkeyPatch) -> None:
    with ollama.Client(host=secured.layer, headers=secured.auth()) as client:
        assert MODEL in [m.model for m in client.list().models]
        assert client.chat(model=MODEL, messages=HELLO, options={"num_predict": 2}).message.content
    with ollama.Client(host=secured.layer) as keyless, pytest.raises(ollama.ResponseError) as refused:
        keyless.list()
    assert refused.value.status_code == 401 and "API key" in refused.value.error
    monkeypatch.setenv("OLLAMA_API_KEY", secured.key)  # ollama-python reads it when the client is made
    with ollama.Client(host=secured.layer) as from_env:
        assert MODEL in [m.model for m in from_env.list().models]


def _litellm(stack: SecuredStack, provider: str, **extra: Any) -> Any:
    return litellm.completion(model=f"{provider}/{MODEL}", api_base=stack.layer, messages=HELLO, max_tokens=2,
                              timeout=120, **extra)


@pytest.mark.parametrize("provider", ["ollama", "ollama_chat"])
def test_litellm_sends_ollama_api_key_and_both_ollama_providers_get_in(
    secured: SecuredStack, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", secured.key)
    assert _litellm(secured, provider).choices[0].message.content
    with pytest.raises(litellm.AuthenticationError) as refused:
        _litellm(secured, provider, api_key="sk-wrong")  # an explicit api_key wins over the variable
    assert "incorrect API key" in str(refused.value)


def test_the_layer_uses_its_upstream_key_setting(secured: SecuredStack) -> None:
    """An open layer (no key of its own) in front of the keyed server, with FRONTIER_UPSTREAM_API_KEY; and
    one without an upstream key gets a clear 502 naming the setting, not the client's 401."""
    keyed = Settings(frontier_upstream_url=secured.server, frontier_upstream_api_key=secured.key,
                     _env_file=None)  # type: ignore[call-arg]
    good = start_layer_with(keyed)
    bare = start_layer_with(Settings(frontier_upstream_url=secured.server, _env_file=None))  # type: ignore[call-arg]
    try:
        assert MODEL in [m["name"] for m in httpx.get(good.url + "/api/tags", timeout=30).json()["models"]]
        refused = httpx.get(bare.url + "/api/tags", timeout=30)
        assert refused.status_code == 502 and "FRONTIER_UPSTREAM_API_KEY" in refused.json()["error"]
    finally:
        good.stop()
        bare.stop()


@pytest.mark.parametrize("port", ["server", "layer"])
def test_anthropic_sdk_sends_x_api_key_and_a_wrong_one_is_anthropics_401(secured: SecuredStack, port: str) -> None:
    url = secured.server if port == "server" else secured.layer
    with anthropic.Anthropic(base_url=url, api_key=secured.key, max_retries=0) as good:
        answer = good.messages.create(
            model=DEFAULT_MODEL, max_tokens=4, messages=[{"role": "user", "content": "Hi"}],
            extra_headers={"anthropic-version": "2023-06-01", "anthropic-beta": "any-beta"})
    assert answer.type == "message"
    with anthropic.Anthropic(base_url=url, api_key="sk-wrong", max_retries=0) as bad, \
            pytest.raises(anthropic.AuthenticationError) as refused:
        bad.messages.create(model=DEFAULT_MODEL, max_tokens=4, messages=[{"role": "user", "content": "Hi"}])
    assert refused.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                             "message": "incorrect API key provided"}}
