"""Every kind of bad input gets a 4xx with an OpenAI error object naming the problem, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL

HI = [{"role": "user", "content": "hi"}]


def _chat(url: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60, **kw)


def _assert_error(r: httpx.Response, status: int, param: str | None = None, code: str | None = None,
                  words: str = "") -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    assert words.lower() in err["message"].lower()
    return err


def test_malformed_json_is_a_400(openai_server: str) -> None:
    r = httpx.post(f"{openai_server}/v1/chat/completions", content=b'{"model": ', timeout=10,
                   headers={"content-type": "application/json"})
    _assert_error(r, 400, code="invalid_json", words="invalid json")


def test_body_that_is_not_an_object_is_a_400(openai_server: str) -> None:
    _assert_error(_chat(openai_server, [1, 2]), 400)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": DEFAULT_MODEL, "messages": HI, "temperature": "hot"}, "temperature"),
        ({"model": DEFAULT_MODEL, "messages": HI, "temperature": 3}, "temperature"),
        ({"model": DEFAULT_MODEL, "messages": "hi"}, "messages"),
        ({"model": DEFAULT_MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": DEFAULT_MODEL, "messages": [{"role": "user"}]}, "messages[0]"),
        ({"model": 7, "messages": HI}, "model"),
        ({"model": DEFAULT_MODEL, "messages": HI, "stop": [1]}, "stop"),
        ({"model": DEFAULT_MODEL, "messages": HI, "n": 0}, "n"),
        # Found by the fuzz run: a denormal penalty is zero in the engine's f32, NaN logits, a 500.
        ({"model": DEFAULT_MODEL, "messages": HI, "repetition_penalty": 5e-324}, "repetition_penalty"),
        ({"model": DEFAULT_MODEL, "messages": HI, "top_logprobs": 50, "logprobs": True}, "top_logprobs"),
        ({"model": DEFAULT_MODEL, "messages": HI, "response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
def test_wrong_types_and_values_name_the_parameter(openai_server: str, body: dict[str, Any], param: str) -> None:
    err = _assert_error(_chat(openai_server, body), 400)
    assert err["param"].startswith(param)


def test_missing_messages_is_a_400_naming_messages(openai_server: str) -> None:
    _assert_error(_chat(openai_server, {"model": DEFAULT_MODEL}), 400, "messages", "missing_required_parameter")


def test_missing_model_is_a_400(openai_server: str) -> None:
    _assert_error(_chat(openai_server, {"messages": HI}), 400, "model", "missing_required_parameter")


def test_empty_messages_is_a_400(openai_server: str) -> None:
    _assert_error(_chat(openai_server, {"model": DEFAULT_MODEL, "messages": []}), 400, "messages")


def test_unknown_model_is_a_404_model_not_found(openai_server: str) -> None:
    err = _assert_error(_chat(openai_server, {"model": "gpt-9", "messages": HI}), 404, "model", "model_not_found")
    assert "gpt-9" in err["message"]
    r = httpx.post(f"{openai_server}/v1/completions", json={"model": "gpt-9", "prompt": "x"}, timeout=10)
    _assert_error(r, 404, "model", "model_not_found")


@pytest.mark.parametrize("value", [0, -5])
def test_max_tokens_not_positive_is_a_400(openai_server: str, value: int) -> None:
    _assert_error(_chat(openai_server, {"model": DEFAULT_MODEL, "messages": HI, "max_tokens": value}), 400,
                  "max_tokens")


def test_prompt_longer_than_the_context_is_a_400(openai_server: str) -> None:
    long = [{"role": "user", "content": "word " * 9000}]
    _assert_error(_chat(openai_server, {"model": DEFAULT_MODEL, "messages": long}), 400,
                  code="context_length_exceeded", words="context length")
    r = httpx.post(f"{openai_server}/v1/completions", json={"model": DEFAULT_MODEL, "prompt": "word " * 9000},
                   timeout=60)
    _assert_error(r, 400, code="context_length_exceeded")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}},
          "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages[0].content"),
    ],
)
def test_unsupported_values_are_a_400(openai_server: str, extra: dict[str, Any], param: str) -> None:
    body = {"model": DEFAULT_MODEL, "messages": HI, **extra}
    _assert_error(_chat(openai_server, body), 400, param)


def test_invalid_json_schema_is_a_400(openai_server: str) -> None:
    body = {"model": DEFAULT_MODEL, "messages": HI, "max_tokens": 5,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}}}
    _assert_error(_chat(openai_server, body), 400)


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"suffix": "end"}, "suffix"), ({"best_of": 3}, "best_of"), ({"prompt": ["a", "b"]}, "prompt"),
     ({"prompt": ""}, "prompt")],
)
def test_completion_unsupported_values_are_a_400(openai_server: str, extra: dict[str, Any], param: str) -> None:
    body = {"model": DEFAULT_MODEL, "prompt": "Hello", "max_tokens": 3, **extra}
    r = httpx.post(f"{openai_server}/v1/completions", json=body, timeout=30)
    _assert_error(r, 400, param)


def test_completion_logprobs_work_where_the_engine_has_them(openai_server: str, engine_name: str) -> None:
    """mistral.rs's raw-prompt call has no logprobs (a clear 400); llama.cpp reads them from its logits."""
    body = {"model": DEFAULT_MODEL, "prompt": "Hello", "max_tokens": 3, "logprobs": 2, "temperature": 0}
    r = httpx.post(f"{openai_server}/v1/completions", json=body, timeout=30)
    if engine_name == "mistralrs":
        _assert_error(r, 400, "logprobs")
        return
    assert r.status_code == 200, r.text
    lp = r.json()["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == 3 and all(v <= 0 for v in lp["token_logprobs"])
    assert all(len(top) == 2 for top in lp["top_logprobs"])
    assert "".join(lp["tokens"]) == r.json()["choices"][0]["text"]


def test_unknown_route_and_wrong_method_use_the_error_shape(openai_server: str) -> None:
    _assert_error(httpx.get(f"{openai_server}/v1/nothing", timeout=5), 404)
    _assert_error(httpx.get(f"{openai_server}/v1/chat/completions", timeout=5), 405)


# Bodies nothing behind the parser can take: each was a 500 before (issue 17), or is a sibling of one that was.
_CHAT_HEAD = b'{"model": "%s", "max_tokens": 2, "messages": [{"role": "user", "content": ' % DEFAULT_MODEL.encode()
HOSTILE_BODIES = {
    "invalid UTF-8 (a surrogate written with surrogatepass)": (_CHAT_HEAD + b'"a\xed\xa0\x80b"}]}', "UTF-8"),
    "lone surrogate escape": (_CHAT_HEAD + b'"a\\ud800b"}]}', "surrogate"),
    "5,000 nested arrays": (_CHAT_HEAD + b"[" * 5000 + b"]" * 5000 + b"}]}", "nested"),
    "5,000 nested objects": (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested"),
}
OPENAI_POST_ROUTES = ["/v1/chat/completions", "/v1/completions", "/tokenize", "/frontier/models/load",
                      "/frontier/models/unload", "/frontier/models/pull", "/frontier/models/delete",
                      "/frontier/models/copy"]


@pytest.mark.parametrize("route", OPENAI_POST_ROUTES)
@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_bodies_nothing_can_encode_or_nest_that_deep_are_a_400_on_every_route(openai_server: str, route: str,
                                                                           kind: str) -> None:
    body, words = HOSTILE_BODIES[kind]
    r = httpx.post(f"{openai_server}{route}", content=body, headers={"content-type": "application/json"},
                   timeout=30)
    _assert_error(r, 400, code="invalid_json", words=words)


def _deep_schema(levels: int) -> bytes:  # written out by hand: the json module cannot encode 500 levels either
    return b'{"type": "object", "properties": {"a": ' * levels + b'{"type": "string"}' + b"}}" * levels


@pytest.mark.parametrize("levels", [40, 500])
@pytest.mark.parametrize("where", ["response_format", "tools"])
def test_deep_schemas_are_followed_or_refused_never_a_500(openai_server: str, where: str, levels: int) -> None:
    schema = _deep_schema(levels)
    extra = (b'"response_format": {"type": "json_schema", "json_schema": {"name": "deep", "schema": %s}}' % schema
             if where == "response_format" else
             b'"tools": [{"type": "function", "function": {"name": "f", "parameters": %s}}]' % schema)
    body = b'{"model": "%s", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}], %s}' % (
        DEFAULT_MODEL.encode(), extra)
    r = httpx.post(f"{openai_server}/v1/chat/completions", content=body, timeout=60,
                   headers={"content-type": "application/json"})
    if levels > 64:  # past MAX_DEPTH once the body's own levels are counted
        _assert_error(r, 400, code="invalid_json", words="nested")
    else:
        assert r.status_code in (200, 400), r.text  # a schema the engine cannot compile is the caller's to fix


def test_server_still_serves_after_bad_input(openai_server: str) -> None:
    r = _chat(openai_server, {"model": DEFAULT_MODEL, "messages": HI, "max_tokens": 3})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0


def test_a_json_body_labelled_as_a_form_is_read_as_json(openai_server: str) -> None:
    """`curl -d '{...}'` sends the form content type, some clients none; llama-server and Ollama read the body
    as JSON anyway."""
    body = b'{"model": "%s", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}' % DEFAULT_MODEL.encode()
    for label in ("application/x-www-form-urlencoded", "text/plain", None):
        r = httpx.post(f"{openai_server}/v1/chat/completions", content=body, timeout=60,
                       headers={"content-type": label} if label else {})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0, (label, r.text)
    r = httpx.post(f"{openai_server}/v1/chat/completions", content=b"model=x&max_tokens=2", timeout=10,
                   headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_error(r, 400, code="invalid_json", words="invalid json")
