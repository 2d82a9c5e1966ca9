"""The OpenAI-compatible server driven by the official `openai` SDK against the real engine."""

from __future__ import annotations

import json

import pytest
from tests.conftest import DEFAULT_MODEL

from openai import OpenAI


@pytest.fixture(scope="module")
def client(openai_server: str) -> OpenAI:
    return OpenAI(base_url=f"{openai_server}/v1", api_key="unused", max_retries=0, timeout=120)


def test_models_list_contains_the_default_model_with_metadata(client: OpenAI) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [DEFAULT_MODEL]
    extra = models[0].model_dump()
    assert extra["context_length"] == 8192
    assert extra["architecture"] == "llama"
    assert extra["parameter_count"] > 100_000_000


def test_chat_completion_returns_text_and_usage(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, temperature=0
    )
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 5
    assert 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streamed_chat_matches_non_streamed_greedy_output(client: OpenAI) -> None:
    kwargs = dict(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=16,
                  temperature=0)
    whole = client.chat.completions.create(**kwargs).choices[0].message.content  # type: ignore[call-overload]
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))  # type: ignore[call-overload]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len([c for c in chunks if c.choices and c.choices[0].delta.content])


def test_stream_reports_usage_even_without_include_usage(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=5, stream=True
    ))
    assert chunks[-1].choices[0].finish_reason is not None
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_text_completion_uses_the_raw_prompt(client: OpenAI) -> None:
    r = client.completions.create(model=DEFAULT_MODEL, prompt="The capital of France is", max_tokens=8,
                                  temperature=0)
    assert r.object == "text_completion"
    assert "Paris" in r.choices[0].text
    assert r.usage is not None and r.usage.prompt_tokens == 5  # untemplated: no chat markers added


def test_streamed_text_completion_and_echo(client: OpenAI) -> None:
    chunks = list(client.completions.create(model=DEFAULT_MODEL, prompt="One, two,", max_tokens=4,
                                            temperature=0, stream=True, echo=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text.startswith("One, two,") and len(text) > len("One, two,")


def test_max_completion_tokens_and_stop_sequences(client: OpenAI) -> None:
    kwargs = dict(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Tell me about cats."}], temperature=0)
    free = client.chat.completions.create(max_completion_tokens=30, **kwargs)  # type: ignore[call-overload]
    text = free.choices[0].message.content or ""
    assert free.usage is not None and free.usage.completion_tokens == 30
    assert free.choices[0].finish_reason == "length"
    words = text.split()
    stop = words[len(words) // 2]  # a word from the middle of the greedy answer
    cut = client.chat.completions.create(max_completion_tokens=30, stop=[stop], **kwargs)  # type: ignore[call-overload]
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in (cut.choices[0].message.content or "")
    assert text.startswith((cut.choices[0].message.content or "").rstrip())


def test_sampling_parameters_are_accepted(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=6, temperature=0.7,
        top_p=0.9, seed=7, presence_penalty=0.5, frequency_penalty=0.5,
        extra_body={"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1},
    )
    assert r.usage is not None and r.usage.completion_tokens > 0


def test_n_returns_that_many_choices(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=5, n=3, temperature=1.0
    )
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert all(c.message.content for c in r.choices)
    assert r.usage is not None and r.usage.completion_tokens >= 3


def test_logprobs_with_top_alternatives(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0,
        logprobs=True, top_logprobs=2,
    )
    content = r.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == 3
    assert all(lp.logprob <= 0 for lp in content)
    assert all(len(lp.top_logprobs) == 2 for lp in content)
    assert "".join(lp.token for lp in content) == r.choices[0].message.content


def test_json_schema_response_format_constrains_output(client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "What is 2+2? Reply in JSON."}],
        max_tokens=30, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    data = json.loads(r.choices[0].message.content or "")
    assert isinstance(data["answer"], int)


def test_json_object_response_format_gives_an_object(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Give me a JSON object describing a cat."}],
        max_tokens=60, temperature=0, response_format={"type": "json_object"},
    )
    text = (r.choices[0].message.content or "").strip()
    assert text.startswith("{")
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_tools_are_accepted_and_tool_choice_none_works(client: OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    for choice in ("auto", "none"):
        r = client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], max_tokens=20,
            temperature=0, tools=tools, tool_choice=choice,  # type: ignore[arg-type]
        )
        assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
        if r.choices[0].message.tool_calls:
            call = r.choices[0].message.tool_calls[0]
            assert call.function.name == "get_weather"  # type: ignore[union-attr]
            json.loads(call.function.arguments)  # type: ignore[union-attr]


def test_openapi_docs_are_served(openai_server: str) -> None:
    import httpx

    assert httpx.get(f"{openai_server}/docs").status_code == 200
    spec = httpx.get(f"{openai_server}/openapi.json").json()
    assert "/v1/chat/completions" in spec["paths"]


def test_tokenize_counts_tokens_exactly(openai_server: str) -> None:
    import httpx

    r = httpx.post(f"{openai_server}/tokenize", json={"model": DEFAULT_MODEL, "text": "hello world"}, timeout=10)
    assert r.status_code == 200 and r.json()["count"] == 2 and len(r.json()["tokens"]) == 2
    r = httpx.post(f"{openai_server}/tokenize", json={"model": "nope", "text": "x"}, timeout=10)
    assert r.status_code == 404
    r = httpx.post(f"{openai_server}/tokenize", json={"model": DEFAULT_MODEL}, timeout=10)
    assert r.status_code == 400


def test_usage_carries_engine_timings(openai_server: str) -> None:
    import httpx

    r = httpx.post(f"{openai_server}/v1/chat/completions", timeout=60,
                   json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    usage = r.json()["usage"]
    assert usage["prompt_seconds"] > 0 and usage["completion_seconds"] > 0


def test_ignore_eos_generates_exactly_max_tokens(client: OpenAI) -> None:
    r = client.chat.completions.create(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=40, extra_body={"ignore_eos": True})
    assert r.usage is not None and r.usage.completion_tokens == 40
    assert r.choices[0].finish_reason == "length"
