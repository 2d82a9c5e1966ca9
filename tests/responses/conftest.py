"""The openai SDK's Responses API against both ports of the stack: the server (8080) and the Ollama layer in
front of it (11434, which passes /v1/* through, as Ollama serves /v1/responses on its own port)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.ollama.conftest import RunningLayer, layer_factory  # noqa: F401  (the fixture, for this folder)

import openai


@pytest.fixture(scope="session", params=["server", "layer"])
def port_url(request: pytest.FixtureRequest, openai_server: str,
             layer_factory: Callable[..., RunningLayer]) -> str:  # noqa: F811
    return openai_server if request.param == "server" else layer_factory(openai_server).url


@pytest.fixture
def client(port_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{port_url}/v1", api_key="unused", max_retries=0, timeout=180) as c:
        yield c
