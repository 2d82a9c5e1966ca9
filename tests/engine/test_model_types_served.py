"""MISTRAL_MODEL_TYPE / MISTRAL_MODEL_ID: each model type, derived from the default GGUF, served over HTTP."""

from __future__ import annotations

import httpx
import pytest

from derive_models import DerivedModels

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


def _chat(url: str, model: str, max_tokens: int = 12) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=120,
                      json={"model": model, "messages": FRANCE, "max_tokens": max_tokens, "temperature": 0})


def _served_id(url: str) -> str:
    return str(httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"])


@pytest.fixture(scope="module")
def plain_server(start_server, derived_models: DerivedModels):  # type: ignore[no-untyped-def]
    return start_server({"MISTRAL_MODEL_TYPE": "plain", "MISTRAL_MODEL_ID": str(derived_models.plain),
                         "MISTRAL_DEFAULT_QUANTIZATION": "none"})


def test_plain_safetensors_folder_answers_correctly(plain_server) -> None:  # type: ignore[no-untyped-def]
    model = _served_id(plain_server.url)
    info = httpx.get(f"{plain_server.url}/v1/models", timeout=10).json()["data"][0]
    assert info["model_type"] == "plain" and info["architecture"] == "llama"
    r = _chat(plain_server.url, model)
    assert r.status_code == 200
    assert "Paris" in r.json()["choices"][0]["message"]["content"]


def test_lora_adapter_is_applied_and_changes_the_output(  # type: ignore[no-untyped-def]
    start_server, plain_server, derived_models: DerivedModels
) -> None:
    lora = start_server({"MISTRAL_MODEL_TYPE": "lora", "MISTRAL_MODEL_ID": str(derived_models.lora),
                         "MISTRAL_DEFAULT_QUANTIZATION": "none"})
    base_text = _chat(plain_server.url, _served_id(plain_server.url)).json()["choices"][0]["message"]["content"]
    r = _chat(lora.url, _served_id(lora.url))
    assert r.status_code == 200
    text = r.json()["choices"][0]["message"]["content"]
    assert text and text != base_text  # the random adapter (std 0.6) visibly perturbs the base model


def test_toml_selector_is_read_and_served(start_server, derived_models: DerivedModels) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_MODEL_TYPE": "toml", "MISTRAL_MODEL_ID": str(derived_models.toml)})
    r = _chat(server.url, _served_id(server.url))
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0


def test_xlora_loads_and_generates(start_server, derived_models: DerivedModels) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_MODEL_TYPE": "x-lora", "MISTRAL_MODEL_ID": str(derived_models.xlora),
                           "MISTRAL_DEFAULT_QUANTIZATION": "none"})
    model = _served_id(server.url)
    # mistral.rs 0.9.5's X-LoRA path fails on CPU for prompts longer than one token (RoPE positions bug, see
    # tests/engine/test_loader.py); a one-token raw prompt exercises the whole X-LoRA forward pass.
    r = httpx.post(f"{server.url}/v1/completions", timeout=120,
                   json={"model": model, "prompt": "Hello", "max_tokens": 8, "temperature": 0})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] > 0
    # The engine bug surfaces as a clean error object, and the server keeps serving.
    bad = _chat(server.url, model)
    assert bad.status_code in (200, 500) and ("error" in bad.json() or bad.json()["choices"])
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
