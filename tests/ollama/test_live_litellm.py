"""litellm, the library Aider uses, through both Ollama providers against the live stack."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402
from tests.ollama.conftest import MODEL  # noqa: E402

# litellm's own TypedDicts trip a pydantic warning on import; that is litellm's business, not this layer's.
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* (is|are) using the `ReadOnly` qualifier:UserWarning")
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}]
PROVIDERS = ["ollama", "ollama_chat"]


def _kwargs(url: str, provider: str) -> dict[str, Any]:
    # What Aider passes for Ollama models: temperature 0 and num_ctx on every request.
    return {
        "model": f"{provider}/{MODEL}",
        "api_base": url,
        "messages": MESSAGES,
        "max_tokens": 10,
        "temperature": 0,
        "num_ctx": 8192,
        "timeout": 120,
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_completion_non_stream(ollama_url: str, provider: str) -> None:
    response = litellm.completion(**_kwargs(ollama_url, provider))
    choice = response.choices[0]
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert 0 < response.usage.completion_tokens <= 10
    assert response.usage.prompt_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_completion_stream(ollama_url: str, provider: str) -> None:
    chunks = list(litellm.completion(**_kwargs(ollama_url, provider), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_model_info_gives_the_real_context_window_and_tool_support(
    ollama_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_API_BASE", ollama_url)
    for provider in PROVIDERS:
        info = litellm.get_model_info(f"{provider}/{MODEL}")
        assert info["max_input_tokens"] == 8192
        assert info["supports_function_calling"] is True
