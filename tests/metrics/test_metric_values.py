"""The counters count what was sent: requests, tokens (against the usage the clients got back), errors;
request ids cross from the layer to the server and appear in both access logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL
from tests.metrics.stack import Stack, access_lines, scrape, value

import ollama
import openai

CHAT = "/v1/chat/completions"
OLLAMA_MODEL = "smollm2:135m"


@pytest.fixture
def client(metrics_stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{metrics_stack.server.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_server_counts_requests_and_tokens_exactly(metrics_stack: Stack, client: openai.OpenAI) -> None:
    before = scrape(metrics_stack.server.url)
    prompt = completion = 0
    for i in range(3):
        answer = client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": f"Count to {i + 2}."}], max_tokens=4 + i
        )
        assert answer.usage is not None
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    for i in range(2):
        chunks = list(client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": f"Name {i + 2} fruits."}], max_tokens=5,
            stream=True, stream_options={"include_usage": True},
        ))
        usage = chunks[-1].usage
        assert usage is not None
        prompt += usage.prompt_tokens
        completion += usage.completion_tokens
    after = scrape(metrics_stack.server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("frontier_requests_total", endpoint=CHAT, model=DEFAULT_MODEL, status="200") == 5
    assert delta("frontier_prompt_tokens_total", model=DEFAULT_MODEL) == prompt
    assert delta("frontier_completion_tokens_total", model=DEFAULT_MODEL) == completion
    assert delta("frontier_time_to_first_token_seconds_count", model=DEFAULT_MODEL) == 5
    assert delta("frontier_request_duration_seconds_count", endpoint=CHAT, model=DEFAULT_MODEL) == 5
    # One gap per streamed delta after a request's first; a token whose text is empty (a partial UTF-8
    # sequence, an end token) sends no delta, so the count is at most one per token.
    assert 0 < delta("frontier_inter_token_latency_seconds_count", model=DEFAULT_MODEL) <= completion - 5
    assert delta("frontier_generation_tokens_per_second_count", model=DEFAULT_MODEL) == 5


def test_errors_are_counted_by_kind_with_their_status(metrics_stack: Stack, client: openai.OpenAI) -> None:
    before = scrape(metrics_stack.server.url)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        # A prompt over the context (a max_tokens over it is clamped, not refused).
        client.chat.completions.create(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "word " * 9000}],
                                       max_tokens=5)
    after = scrape(metrics_stack.server.url)
    assert value(after, "frontier_errors_total", endpoint=CHAT, kind="model_not_found") - value(
        before, "frontier_errors_total", endpoint=CHAT, kind="model_not_found") == 1
    assert value(after, "frontier_errors_total", endpoint=CHAT, kind="context_length") - value(
        before, "frontier_errors_total", endpoint=CHAT, kind="context_length") == 1
    # A refused request names no model: the client's text never becomes a label value.
    assert value(after, "frontier_requests_total", endpoint=CHAT, model="none", status="404") - value(
        before, "frontier_requests_total", endpoint=CHAT, model="none", status="404") == 1
    assert not any(("model", "no-such-model") in labels for _, labels in after)


def test_engine_gauges_show_the_loaded_model(metrics_stack: Stack) -> None:
    samples = scrape(metrics_stack.server.url)
    assert value(samples, "frontier_model_loaded", model=DEFAULT_MODEL) == 1
    assert value(samples, "frontier_model_load_seconds", model=DEFAULT_MODEL) > 0
    assert value(samples, "frontier_engine_up") == 1
    assert value(samples, "frontier_engine_queued_requests") == 0  # nothing is generating now


def test_layer_counts_match_the_ollama_answers_and_the_server(metrics_stack: Stack) -> None:
    server_before, layer_before = scrape(metrics_stack.server.url), scrape(metrics_stack.proxy.url)
    prompt = completion = 0
    last = None
    with ollama.Client(host=metrics_stack.proxy.url, timeout=120) as client:
        for i in range(2):
            answer = client.chat(model=OLLAMA_MODEL, messages=[{"role": "user", "content": f"Say {i}"}],
                                 options={"num_predict": 4})
            prompt += answer.prompt_eval_count or 0
            completion += answer.eval_count or 0
        stream = client.generate(model=OLLAMA_MODEL, prompt="Once upon a time", stream=True,
                                 options={"num_predict": 5})
        for last in stream:  # noqa: B007 (only the final line matters)
            pass
    assert last is not None and last.done
    prompt += last.prompt_eval_count or 0
    completion += last.eval_count or 0
    server_after, layer_after = scrape(metrics_stack.server.url), scrape(metrics_stack.proxy.url)

    def delta(after: dict, before: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(layer_after, layer_before, "frontier_requests_total", endpoint="/api/chat", status="200") == 2
    assert delta(layer_after, layer_before, "frontier_requests_total", endpoint="/api/generate", status="200") == 1
    assert delta(layer_after, layer_before, "frontier_prompt_tokens_total", model=OLLAMA_MODEL) == prompt
    assert delta(layer_after, layer_before, "frontier_completion_tokens_total", model=OLLAMA_MODEL) == completion
    assert delta(layer_after, layer_before, "frontier_time_to_first_token_seconds_count", model=OLLAMA_MODEL) == 1
    # The same three generations, counted again by the server behind the layer.
    assert delta(server_after, server_before, "frontier_requests_total", endpoint=CHAT, status="200") == 3
    assert delta(server_after, server_before, "frontier_prompt_tokens_total") == prompt
    assert delta(server_after, server_before, "frontier_completion_tokens_total") == completion
    assert delta(layer_after, layer_before, "frontier_upstream_request_duration_seconds_count",
                 path=CHAT, status="200") == 3


def test_request_id_crosses_the_layer_and_both_sides_log_one_access_line(metrics_stack: Stack) -> None:
    rid = f"test-{uuid.uuid4().hex[:12]}"
    marker = f"zebra{uuid.uuid4().hex[:8]}"  # prompt text that must not reach the logs at info
    response = httpx.post(
        f"{metrics_stack.proxy.url}/api/chat", headers={"X-Request-ID": rid}, timeout=120,
        json={"model": OLLAMA_MODEL, "stream": False, "options": {"num_predict": 3},
              "messages": [{"role": "user", "content": f"Repeat {marker}"}]},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == rid
    body = response.json()
    for read, route in ((metrics_stack.proxy.log_lines, "/api/chat"), (metrics_stack.server_log_lines, CHAT)):
        # (The layer's other upstream calls for this request, such as the model list, carry the id too.)
        access = access_lines(read, rid, route)
        assert len(access) == 1, access
        line = access[0]
        assert (line["method"], line["route"], line["status"]) == ("POST", route, 200)
        assert line["duration_s"] > 0
        assert (line["prompt_tokens"], line["completion_tokens"]) == (body["prompt_eval_count"], body["eval_count"])
    assert marker not in metrics_stack.proxy.log_path.read_text()
    assert marker not in metrics_stack.server.log_path.read_text()


def test_layer_makes_a_request_id_when_the_client_sends_none_or_a_bad_one(metrics_stack: Stack) -> None:
    for sent in ({}, {"X-Request-ID": "bad id with spaces\tand tabs"}):
        response = httpx.post(
            f"{metrics_stack.proxy.url}/api/generate", headers=sent, timeout=120,
            json={"model": OLLAMA_MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}},
        )
        assert response.status_code == 200
        rid = response.headers["x-request-id"]
        assert rid and " " not in rid and rid != sent.get("X-Request-ID")
        assert access_lines(metrics_stack.server_log_lines, rid)  # the server logged the id the layer made


def test_in_process_each_request_is_counted_once_on_the_port_it_came_in(start_server) -> None:  # type: ignore[no-untyped-def]
    """`frontier run`: the Ollama API's generations count in its own /metrics (under the Ollama name, as through
    the proxy) and not again in the OpenAI port's; the engine gauges there show the shared engine."""
    server = start_server({}, ollama=True)
    server_before, ollama_before = scrape(server.url), scrape(server.ollama_url)
    with ollama.Client(host=server.ollama_url, timeout=120) as client:
        answer = client.chat(model=OLLAMA_MODEL, messages=[{"role": "user", "content": "Say 1"}],
                             options={"num_predict": 4})
    server_after, ollama_after = scrape(server.url), scrape(server.ollama_url)

    def delta(after: dict, before: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(ollama_after, ollama_before, "frontier_requests_total", endpoint="/api/chat", status="200") == 1
    assert delta(ollama_after, ollama_before, "frontier_completion_tokens_total") == answer.eval_count > 0
    assert delta(ollama_after, ollama_before, "frontier_completion_tokens_total", model=OLLAMA_MODEL) == \
        answer.eval_count
    assert delta(ollama_after, ollama_before, "frontier_prompt_tokens_total") == answer.prompt_eval_count
    assert delta(server_after, server_before, "frontier_completion_tokens_total") == 0
    assert value(server_after, "frontier_engine_up") == 1
