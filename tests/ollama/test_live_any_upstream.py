"""`frontier proxy` in front of an OpenAI-compatible server that is not Frontier: llama-cpp-python's own server
(`python -m llama_cpp.server`, from PyPI), which has /v1/chat/completions, /v1/completions and /v1/models with
bare ids, and none of Frontier's extensions. Every dialect still works through the remote engine: the Ollama
API, Anthropic's Messages API and OpenAI's Responses API (translated by the proxy), and /v1/* passed through."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL, MODELS, free_port, stop_process
from tests.ollama.conftest import RunningLayer

import anthropic
import ollama
import openai

HI = [{"role": "user", "content": "Hi"}]
GREEDY = {"temperature": 0}  # greedy everywhere: a sampled answer may be empty at 6 tokens (SDK 2 has no argument)
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server (the llamacpp and test extras)")


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(MODELS / DEFAULT_MODEL), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, Path(log).read_text()[-3000:]
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    yield url
    stop_process(proc)


@pytest.fixture(scope="module")
def proxy(other_server: str, layer_factory: Callable[..., RunningLayer]) -> str:
    return layer_factory(other_server).url


@pytest.fixture(scope="module")
def model(other_server: str) -> str:
    ids = [entry["id"] for entry in httpx.get(f"{other_server}/v1/models", timeout=10).json()["data"]]
    assert len(ids) == 1 and "extensions" not in ids[0]
    return str(ids[0])


def test_the_ollama_client_chats_and_generates_through_the_proxy(proxy: str, model: str) -> None:
    with ollama.Client(host=proxy, timeout=120) as client:
        _ollama_checks(client)


def _ollama_checks(client: ollama.Client) -> None:
    names = [m.model for m in client.list().models]
    assert len(names) == 1  # the upstream's one model, under a name derived from its id
    answer = client.chat(model=names[0], messages=HI, options={"num_predict": 6, "temperature": 0})
    assert answer.done and answer.message.role == "assistant" and answer.message.content
    parts = list(client.generate(model=names[0], prompt="Once upon a time", stream=True,
                                 options={"num_predict": 6, "temperature": 0}))
    assert parts[-1].done and "".join(p.response for p in parts[:-1])


def test_anthropic_messages_work_in_front_of_a_server_that_has_none(proxy: str, model: str) -> None:
    with anthropic.Anthropic(base_url=proxy, api_key="unused", max_retries=0) as client:
        _anthropic_checks(client, model)


def _anthropic_checks(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=6, messages=HI, extra_body=GREEDY)
    assert message.role == "assistant" and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("max_tokens", "end_turn")
    with client.messages.stream(model=model, max_tokens=6, messages=HI, extra_body=GREEDY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].type == "text" and final.content[0].text == text
    # Nothing here can count exactly (the upstream has no tokenizer): a clear 400, not an invented number.
    with pytest.raises(anthropic.BadRequestError, match="no tokenizer"):
        client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "Hi"}])


def test_the_responses_api_works_in_front_of_a_server_that_has_none(proxy: str, model: str) -> None:
    with openai.OpenAI(base_url=f"{proxy}/v1", api_key="unused", max_retries=0) as client:
        _responses_checks(client, model)


def _responses_checks(client: openai.OpenAI, model: str) -> None:
    response = client.responses.create(model=model, input="Hi", max_output_tokens=6, temperature=0)
    assert response.output_text and response.status in ("completed", "incomplete")
    again = client.responses.retrieve(response.id)
    assert again.output_text == response.output_text
    stream = client.responses.create(model=model, input="Hi", max_output_tokens=6, temperature=0, stream=True)
    events = [event.type for event in stream]
    assert events[0] == "response.created" and "response.output_text.delta" in events
    assert events[-1] in ("response.completed", "response.incomplete")


def test_the_openai_api_passes_through_unchanged(proxy: str, model: str) -> None:
    with openai.OpenAI(base_url=f"{proxy}/v1", api_key="unused", max_retries=0) as client:
            answer = client.chat.completions.create(model=model, max_tokens=6,
                                                messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content and answer.id.startswith("chatcmpl-")


def test_a_model_the_upstream_does_not_list_is_a_404_on_the_ollama_api(proxy: str) -> None:
    # (The translated dialects leave names to the upstream, as a passed-through request does: this one answers
    # any name with its one model.)
    answer = httpx.post(f"{proxy}/api/chat", json={"model": "nope", "messages": []}, timeout=30)
    assert answer.status_code == 404 and answer.json() == {"error": "model 'nope' not found"}
