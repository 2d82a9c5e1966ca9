"""Greedy completions from both shipped models are coherent on llama.cpp, and the stack never routes a model
to an engine known to break it (Gemma 3 GGUF on mistral.rs 0.9.5 generates " is c a n c a n ...").

The Gemma 3 file comes from its catalog entry (four PyPI wheels, concatenated and verified), into its own
folder so the other suites' model listings stay as they are.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, REPO

GEMMA = "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="module")
def gemma_folder() -> Path:
    folder = REPO / ".cache" / "gemma"
    if not (folder / GEMMA).is_file():
        subprocess.run(
            [sys.executable, "-m", "frontier", "models", "download", "gemma3-270m", "--models-path", str(folder),
             "--quiet"], check=True, timeout=900,
        )
    return folder


def _complete(url: str, model: str, prompt: str, tokens: int = 24) -> str:
    r = httpx.post(f"{url}/v1/completions", timeout=120,
                   json={"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0})
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["text"])


def test_gemma3_is_served_by_llamacpp_even_when_mistralrs_is_asked_for(start_server, gemma_folder) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_MODELS_PATH": str(gemma_folder), "MISTRAL_MODEL_ID": GEMMA,
                           "MISTRAL_ENGINE": "mistralrs"})
    entry = httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"][0]
    assert entry["architecture"] == "gemma3" and entry["engine"] == "llamacpp"
    assert "MISTRAL_ENGINE=mistralrs overridden" in server.log()
    text = _complete(server.url, GEMMA, "The capital of France is")
    assert "France" in text or "Paris" in text, text
    assert "c a n" not in text


def test_default_model_is_coherent_on_llamacpp(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_ENGINE": "llamacpp", "MISTRAL_KV_LAYOUT": "auto"})
    entry = httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"][0]
    assert entry["engine"] == "llamacpp"
    assert "Paris" in _complete(server.url, DEFAULT_MODEL, "The capital of France is", 8)
    assert "65536 KV cells (one context per sequence" in server.log()  # 8 slots x 8192: split, 1.4 GiB
    chat = httpx.post(f"{server.url}/v1/chat/completions", timeout=120, json={
        "model": DEFAULT_MODEL, "temperature": 0, "max_tokens": 24,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }).json()["choices"][0]["message"]["content"]
    assert len(chat.split()) >= 3 and not chat.startswith("<|")
