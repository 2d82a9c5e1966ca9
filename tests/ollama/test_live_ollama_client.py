"""The official `ollama` Python client against the live stack (real server + real layer on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from tests.ollama.conftest import MODEL

import ollama

OPTIONS = {"temperature": 0, "num_predict": 12, "seed": 1}


@pytest.fixture(scope="module")
def client(ollama_url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_url, timeout=120) as client:
        yield client


def test_list_shows_the_served_model_under_its_ollama_names(client: ollama.Client) -> None:
    models = client.list().models
    names = [m.model for m in models]
    assert "smollm2:135m" in names and "smollm2:latest" in names
    smol = next(m for m in models if m.model == MODEL)
    assert isinstance(smol.modified_at, datetime) and smol.modified_at.tzinfo is not None
    assert smol.size and smol.size > 50_000_000
    assert smol.digest and len(smol.digest) == 64
    assert smol.details is not None and smol.details.family == "llama"
    assert smol.details.parameter_size == "134.52M"


def test_show_carries_real_metadata(client: ollama.Client) -> None:
    info = client.show(MODEL)
    assert info.modelinfo is not None
    assert info.modelinfo["llama.context_length"] == 8192
    assert info.modelinfo["general.architecture"] == "llama"
    assert info.capabilities is not None and "completion" in info.capabilities
    assert info.template and "im_start" in info.template
    assert info.details is not None and info.details.quantization_level


def test_ps_lists_the_loaded_model(client: ollama.Client) -> None:
    running = client.ps().models
    smol = next(m for m in running if m.model == MODEL)
    assert smol.context_length == 8192
    assert smol.expires_at is not None and smol.expires_at > datetime.now(smol.expires_at.tzinfo)


def test_generate_non_stream(client: ollama.Client) -> None:
    reply = client.generate(model=MODEL, prompt="Say hello.", options=OPTIONS)
    assert reply.done is True and reply.done_reason in ("stop", "length")
    assert reply.response
    assert reply.model == MODEL
    assert reply.eval_count and 0 < reply.eval_count <= 12
    assert reply.prompt_eval_count and reply.prompt_eval_count > 0
    assert reply.total_duration and reply.eval_duration and reply.prompt_eval_duration


def test_generate_stream(client: ollama.Client) -> None:
    parts = list(client.generate(model="SmolLM2", prompt="Count: 1, 2, 3,", options=OPTIONS, stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done is True
    assert "".join(p.response or "" for p in parts)
    assert parts[-1].eval_count and parts[-1].eval_count <= 12


def test_generate_with_system_and_raw(client: ollama.Client) -> None:
    reply = client.generate(model=MODEL, prompt="Hi", system="Answer in one word.", options=OPTIONS)
    assert reply.done
    raw = client.generate(
        model=MODEL,
        prompt="<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        raw=True,
        options=OPTIONS,
    )
    assert raw.done and raw.response


def test_chat_non_stream(client: ollama.Client) -> None:
    reply = client.chat(model=MODEL, messages=[{"role": "user", "content": "What is 2+2?"}], options=OPTIONS)
    assert reply.message.role == "assistant" and reply.message.content
    assert reply.done and reply.done_reason in ("stop", "length")
    assert reply.eval_count and reply.eval_count <= 12


def test_chat_stream(client: ollama.Client) -> None:
    parts = list(
        client.chat(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a colour."},
            ],
            options=OPTIONS,
            stream=True,
        )
    )
    assert "".join(p.message.content or "" for p in parts)
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert parts[-1].prompt_eval_count and parts[-1].eval_count


def test_chat_with_tools_and_tool_history(client: ollama.Client) -> None:
    def add(a: int, b: int) -> int:
        """Adds two integers.

        Args:
          a: the first
          b: the second
        """
        return a + b

    messages = [
        {"role": "user", "content": "What is 2 + 3?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}],
        },
        {"role": "tool", "tool_name": "add", "content": "5"},
    ]
    reply = client.chat(model=MODEL, messages=messages, tools=[add], options=OPTIONS)
    assert reply.done and reply.message.role == "assistant"
    for call in reply.message.tool_calls or []:
        assert isinstance(call.function.arguments, dict)


def test_chat_json_format(client: ollama.Client) -> None:
    reply = client.chat(
        model=MODEL,
        messages=[{"role": "user", "content": "Give a JSON object with a key 'name'."}],
        format={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        options={"temperature": 0, "num_predict": 40},
    )
    assert reply.message.content is not None
    assert reply.message.content.lstrip().startswith("{")


def test_empty_messages_load_and_keep_alive_zero_unloads(client: ollama.Client) -> None:
    loaded = client.chat(model=MODEL, messages=[])
    assert loaded.done and loaded.done_reason == "load"
    unloaded = client.generate(model=MODEL, prompt="", keep_alive=0)
    assert unloaded.done and unloaded.done_reason == "unload"


def test_a_chat_model_embeds_on_llamacpp_and_is_refused_cleanly_on_mistralrs(client: ollama.Client,
                                                                            engine_name: str) -> None:
    # As in Ollama, a chat model embeds (llama.cpp); mistral.rs serves no embeddings and says where they are.
    if engine_name == "llamacpp":
        assert len(client.embed(model=MODEL, input=["hello"]).embeddings[0]) == 576
        return
    with pytest.raises(ollama.ResponseError) as caught:
        client.embed(model=MODEL, input=["hello"])
    assert caught.value.status_code == 400
    assert "llama.cpp engine" in caught.value.error


def test_unknown_model_is_a_404_the_client_understands(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3:70b", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'llama3:70b' not found"


def test_pull_of_a_present_model_succeeds_and_authoring_is_refused(client: ollama.Client) -> None:
    assert client.pull(MODEL).status == "success"  # present and verified: nothing is fetched
    statuses = [p.status for p in client.pull(MODEL, stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    with pytest.raises(ollama.ResponseError) as unknown:
        client.pull("llama3:70b")
    assert unknown.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as configured:
        client.delete(MODEL)  # the server's MISTRAL_MODEL_ID: deleting it would break the next start
    assert configured.value.status_code == 400 and "configured model" in configured.value.error
    for call in (lambda: client.create(model="x", from_=MODEL), lambda: client.push(MODEL)):
        with pytest.raises(ollama.ResponseError) as caught:
            call()
        assert caught.value.status_code == 501
        assert "not supported" in caught.value.error
