"""Many models served on demand from the registry, through both APIs, on the real engine.

One live server (MISTRAL_MAX_LOADED_MODELS=1) over a models folder holding the default GGUF and the plain
safetensors model derived from it, with a catalog entry whose file a loopback HTTP server offers; the real
Ollama layer in front. The `openai` and `ollama` clients drive it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.ollama.conftest import start_layer

import ollama
import openai
from fileserver import FileServer

DEFAULT = "SmolLM2-135M-Instruct.Q4_1.gguf"
PLAIN = "smollm2-plain"
PULLED = "tiny-pulled.Q4_1.gguf"
BAD_SHA = "tiny-badsum.Q4_1.gguf"


def _link_tree(source: Path, target: Path) -> None:
    """Hard links: a second name for the same bytes, instant and free (the tests never write into models)."""
    if source.is_file():
        os.link(source, target)
        return
    target.mkdir()
    for item in source.iterdir():
        _link_tree(item, target / item.name)


@pytest.fixture(scope="module")
def stack(start_server, derived_models, tmp_path_factory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("many")
    models = root / "models"
    models.mkdir()
    default = Path(__file__).resolve().parents[2] / "models" / DEFAULT
    _link_tree(default, models / DEFAULT)
    _link_tree(derived_models.plain, models / PLAIN)
    data = default.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with FileServer({PULLED: data, BAD_SHA: data}) as files:
        catalog = root / "catalog.yaml"
        entry = {
            "title": "test", "repo": "none/none", "architecture": "llama", "context_length": 8192,
            "licence": "apache-2.0", "default_quant": "Q4_1",
        }
        catalog.write_text(yaml.safe_dump({"models": [
            {**entry, "name": "tiny-pulled", "aliases": ["tiny-pulled:latest"], "files": {"Q4_1": {
                "file": PULLED, "size": len(data), "sha256": digest, "sources": [{"url": files.url(PULLED)}]}}},
            {**entry, "name": "tiny-badsum", "files": {"Q4_1": {
                "file": BAD_SHA, "sha256": "0" * 64, "sources": [{"url": files.url(BAD_SHA)}]}}},
        ]}))
        server = start_server({"MISTRAL_MODELS_PATH": str(models), "MISTRAL_MAX_LOADED_MODELS": "1",
                               "FRONTIER_CATALOG": str(catalog)})
        layer = start_layer(server.url)
        try:
            with ollama.Client(host=layer.url, timeout=180) as client, \
                    openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as oai:
                yield {"url": server.url, "layer": layer.url, "models": models, "files": files,
                       "digest": digest, "ollama": client, "openai": oai}
        finally:
            layer.stop()


def _loaded(stack: dict[str, Any]) -> list[str]:
    return [m.model for m in stack["ollama"].ps().models]


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_v1_models_lists_every_registered_model_with_its_load_state(stack):
    entries = {m["id"]: m for m in httpx.get(stack["url"] + "/v1/models").json()["data"]}
    assert {DEFAULT, PLAIN} <= set(entries)
    assert entries[PLAIN]["model_type"] == "plain" and entries[PLAIN]["architecture"] == "llama"
    assert entries[DEFAULT]["ollama_names"] and entries[DEFAULT]["catalog_name"] == "smollm2-135m"
    assert sum(1 for m in entries.values() if m["loaded"]) <= 1


def test_two_models_are_served_alternately_by_name_and_ps_shows_the_swap(stack):
    client = stack["ollama"]
    question = [{"role": "user", "content": "What is the capital of France?"}]
    for _ in range(2):
        # The plain F32 model answers this one right (the Q4_1 GGUF rambles): the answer shows who served it.
        answer = stack["openai"].chat.completions.create(model=PLAIN, messages=question, max_tokens=24, temperature=0)
        assert "Paris" in (answer.choices[0].message.content or "")
        assert _loaded(stack) == ["smollm2-plain:latest"]
        reply = client.chat(model="smollm2:135m", messages=question, options={"num_predict": 8})
        assert reply.message.content
        assert set(_loaded(stack)) == {"smollm2:135m", "smollm2:latest", "smollm2:135m-instruct"}
        text = client.generate(model="smollm2-plain", prompt="The capital of France is", raw=True,
                               options={"num_predict": 6, "temperature": 0}).response
        assert text
        assert _loaded(stack) == ["smollm2-plain:latest"]


def test_keep_alive_zero_unloads_and_an_empty_prompt_loads(stack):
    client = stack["ollama"]
    assert client.generate(model="smollm2:135m", prompt="", keep_alive=-1).done_reason == "load"
    assert "smollm2:135m" in _loaded(stack)
    assert client.generate(model="smollm2:135m", prompt="", keep_alive=0).done_reason == "unload"
    assert _loaded(stack) == []
    client.chat(model="smollm2:135m", messages=[{"role": "user", "content": "Hi"}], keep_alive="1s",
                options={"num_predict": 2})
    assert "smollm2:135m" in _loaded(stack)
    assert _wait(lambda: _loaded(stack) == [], timeout=15), "a 1s keep_alive must expire"


def test_pull_with_the_ollama_client_streams_progress_and_delete_removes_the_file(stack):
    client = stack["ollama"]
    lines = list(client.pull("tiny-pulled", stream=True))
    statuses = [line.status for line in lines]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    sized = [line for line in lines if line.total]
    assert sized and sized[-1].completed == sized[-1].total == (stack["models"] / DEFAULT).stat().st_size
    assert sized[-1].digest == f"sha256:{stack['digest']}"
    pulled = stack["models"] / PULLED
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == stack["digest"]
    assert "tiny-pulled:latest" in [m.model for m in client.list().models]
    reply = client.chat(model="tiny-pulled", messages=[{"role": "user", "content": "Hi"}], options={"num_predict": 4})
    assert reply.message.content
    assert client.pull("tiny-pulled", stream=False).status == "success"  # present: verified, not fetched again
    client.delete("tiny-pulled")
    assert not pulled.exists()
    assert "tiny-pulled:latest" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError) as info:
        client.delete("tiny-pulled")
    assert info.value.status_code == 404


def test_a_pull_failing_verification_reports_an_error_and_leaves_no_file(stack):
    with pytest.raises(ollama.ResponseError) as info:
        list(stack["ollama"].pull("tiny-badsum", stream=True))
    assert "sha256" in str(info.value)
    assert not (stack["models"] / BAD_SHA).exists()
    assert not (stack["models"] / (BAD_SHA + ".partial")).exists()
    raw = httpx.post(stack["layer"] + "/api/pull", json={"model": "tiny-badsum"}, timeout=60)
    lines = raw.text.strip().splitlines()
    assert raw.status_code == 200 and '"pulling manifest"' in lines[0]
    assert "sha256" in lines[-1] and '"error"' in lines[-1]


def test_pull_of_an_unknown_name_is_a_404_in_ollamas_shape(stack):
    response = httpx.post(stack["layer"] + "/api/pull", json={"model": "no-such-model:7b"})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'no-such-model:7b' not found"}


def test_copy_adds_a_name_that_serves_and_deleting_it_keeps_the_model(stack):
    client = stack["ollama"]
    client.copy("smollm2:135m", "my-assistant:v1")
    assert "my-assistant:v1" in [m.model for m in client.list().models]
    reply = client.chat(model="my-assistant:v1", messages=[{"role": "user", "content": "Hi"}],
                        options={"num_predict": 3})
    assert reply.message.content
    client.delete("my-assistant:v1")
    assert "my-assistant:v1" not in [m.model for m in client.list().models]
    assert (stack["models"] / DEFAULT).exists()


@pytest.mark.parametrize("name", ["../outside.gguf", "/etc/passwd", "sub/../../x"])
def test_delete_never_reaches_outside_the_models_folder(stack, name):
    response = httpx.post(stack["url"] + "/frontier/models/delete", json={"model": name})
    assert response.status_code in (400, 404)
    assert response.json()["error"]["message"]


def test_the_configured_model_cannot_be_deleted_from_under_the_server(stack):
    response = httpx.post(stack["url"] + "/frontier/models/delete", json={"model": DEFAULT})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_in_use"
    assert (stack["models"] / DEFAULT).exists()


def test_a_corrupt_gguf_gets_a_clear_error_and_the_server_keeps_serving(stack):
    broken = stack["models"] / "broken.gguf"
    broken.write_bytes((stack["models"] / DEFAULT).read_bytes()[: 2 * 1024 * 1024])
    try:
        response = httpx.post(stack["url"] + "/v1/chat/completions", json={
            "model": "broken.gguf", "messages": [{"role": "user", "content": "Hi"}]})
        assert response.status_code == 503
        assert "truncated" in response.json()["error"]["message"]
        assert "broken.gguf" not in [m["id"] for m in httpx.get(stack["url"] + "/v1/models").json()["data"]]
        ok = stack["openai"].chat.completions.create(model=DEFAULT, messages=[{"role": "user", "content": "Hi"}],
                                                 max_tokens=3)
        assert ok.choices[0].message.content
    finally:
        broken.unlink()


def test_refused_plain_http_pull_from_a_remote_host(stack):
    response = httpx.post(stack["url"] + "/frontier/models/pull", json={"model": "http://example.invalid/x.gguf"})
    assert response.status_code == 400
    assert "https" in response.json()["error"]["message"]


def test_a_busy_model_is_never_unloaded_under_its_request(stack):
    """Another model's request waits for the running stream to finish instead of cutting it off."""
    import threading

    ended: dict[str, float] = {}
    stream = stack["openai"].chat.completions.create(
        model=PLAIN, messages=[{"role": "user", "content": "Count to a hundred."}], max_tokens=40, stream=True,
        extra_body={"ignore_eos": True},
    )
    chunks = iter(stream)
    next(chunks)  # the plain model is loaded and generating

    def other() -> None:
        stack["openai"].chat.completions.create(model=DEFAULT, messages=[{"role": "user", "content": "Hi"}],
                                                max_tokens=2)
        ended["other"] = time.monotonic()

    thread = threading.Thread(target=other)
    thread.start()
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    ended["stream"] = time.monotonic()
    thread.join(120)
    assert text  # the stream ran to its end...
    assert ended["other"] > ended["stream"]  # ...and only then was its model swapped out
    assert _loaded(stack) and "smollm2-plain:latest" not in _loaded(stack)
