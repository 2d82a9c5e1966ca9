"""Raw HTTP against the live stack: the wire details of the reference, byte for byte where it matters."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from tests.ollama.conftest import MODEL

import openai

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
TIMINGS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
COUNTS = ("prompt_eval_count", "eval_count")
SHORT = {"temperature": 0, "num_predict": 8}


@pytest.fixture(scope="module")
def http(ollama_url: str) -> Any:
    with httpx.Client(base_url=ollama_url, timeout=120) as client:
        yield client


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/x-ndjson"
    text = response.text
    assert text.endswith("\n") and "\n\n" not in text and "data:" not in text
    return [json.loads(line) for line in text[:-1].split("\n")]


def check_final(final: dict[str, Any]) -> None:
    assert final["done"] is True and final["done_reason"] in ("stop", "length")
    for key in TIMINGS:
        assert isinstance(final[key], int) and final[key] >= 1, key
    for key in COUNTS:
        assert isinstance(final[key], int) and final[key] > 0, key
    assert final["total_duration"] >= final["eval_duration"]
    assert "context" not in final


def test_root_answers_get_and_head(http: httpx.Client) -> None:
    got = http.get("/")
    assert (got.status_code, got.text) == (200, "Ollama is running")
    assert got.headers["content-type"].startswith("text/plain")
    head = http.head("/")
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_version_is_numeric_semver(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/api/version")
    assert response.status_code == 200
    if method == "GET":
        assert re.fullmatch(r"0\.\d+\.\d+", response.json()["version"])


@pytest.mark.parametrize(
    ("path", "body", "text_of"),
    [
        ("/api/generate", {"prompt": "Say hi."}, lambda line: line["response"]),
        ("/api/chat", {"messages": [{"role": "user", "content": "Say hi."}]}, lambda line: line["message"]["content"]),
    ],
)
def test_stream_defaults_to_true_when_field_absent(
    http: httpx.Client, path: str, body: dict[str, Any], text_of: Any
) -> None:
    response = http.post(path, json={"model": MODEL, "options": SHORT, **body})
    assert response.status_code == 200
    lines = ndjson(response)
    assert len(lines) >= 2
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    check_final(lines[-1])
    assert all(line["model"] == MODEL and RFC3339_UTC.match(line["created_at"]) for line in lines)
    assert all(isinstance(text_of(line), str) for line in lines)
    assert "".join(text_of(line) for line in lines)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/generate", {"prompt": "Say hi."}), ("/api/chat", {"messages": [{"role": "user", "content": "Hi"}]})],
)
def test_stream_false_gives_one_json_object(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = http.post(path, json={"model": MODEL, "options": SHORT, "stream": False, **body})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    check_final(response.json())
    assert RFC3339_UTC.match(response.json()["created_at"])


def test_responses_echo_the_callers_model_string(http: httpx.Client) -> None:
    body = {"model": "SmolLM2:Latest", "prompt": "Hi", "stream": False, "options": SHORT}
    assert http.post("/api/generate", json=body).json()["model"] == "SmolLM2:Latest"


def test_json_body_is_read_whatever_the_content_type(http: httpx.Client) -> None:
    body = json.dumps({"model": MODEL, "prompt": "Hi", "stream": False, "options": SHORT})
    response = http.post("/api/generate", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and response.json()["done"] is True


def test_tags_and_ps_times_are_rfc3339(http: httpx.Client) -> None:
    tags = http.get("/api/tags").json()["models"]
    assert tags and all(RFC3339_UTC.match(m["modified_at"]) for m in tags)
    assert all(":" in m["name"] and re.fullmatch(r"[0-9a-f]{64}", m["digest"]) for m in tags)
    ps = http.get("/api/ps").json()["models"]
    assert ps and all(RFC3339_UTC.match(m["expires_at"]) for m in ps)


def test_show_accepts_name_or_model(http: httpx.Client) -> None:
    by_name = http.post("/api/show", json={"name": "smollm2"}).json()
    by_model = http.post("/api/show", json={"model": "smollm2:135m"}).json()
    assert by_name == by_model
    assert by_name["model_info"]["llama.context_length"] == 8192


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/generate", {"model": "nosuch", "prompt": "hi"}),
        ("POST", "/api/chat", {"model": "nosuch", "messages": []}),
        ("POST", "/api/show", {"model": "nosuch"}),
        ("POST", "/api/embed", {"model": "nosuch", "input": "x"}),
        ("DELETE", "/api/delete", {"model": "nosuch"}),
        ("POST", "/api/copy", {"source": "nosuch", "destination": "other"}),
    ],
)
def test_unknown_model_is_404_in_ollamas_shape(http: httpx.Client, method: str, path: str, body: Any) -> None:
    response = http.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json() == {"error": "model 'nosuch' not found"}


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/api/generate", b"{not json", "invalid JSON"),
        ("/api/chat", b"", "missing request body"),
        ("/api/chat", b"[1]", "JSON object"),
        ("/api/generate", {"prompt": "hi"}, "model is required"),
        ("/api/chat", {"model": "", "messages": []}, "model is required"),
        ("/api/generate", {"model": MODEL, "prompt": "hi", "options": {"temperature": "hot"}}, 'option "temperature"'),
        ("/api/chat", {"model": MODEL, "messages": [], "options": {"stop": 3}}, 'option "stop"'),
        ("/api/generate", {"model": MODEL, "prompt": "hi", "format": "xml"}, "invalid format"),
        ("/api/generate", {"model": MODEL, "prompt": "hi", "raw": True, "system": "s"}, "raw mode"),
        ("/api/generate", {"model": MODEL, "prompt": "hi", "think": True}, "does not support thinking"),
        ("/api/generate", {"model": MODEL, "prompt": "def f(", "suffix": ")"}, "does not support insert"),
        ("/api/chat", {"model": MODEL, "messages": [], "top_logprobs": 21}, "top_logprobs"),
        ("/api/chat", {"model": MODEL, "messages": [], "keep_alive": "later"}, "keep_alive"),
    ],
)
def test_bad_input_is_a_400_with_an_error_field(http: httpx.Client, path: str, body: Any, fragment: str) -> None:
    response = http.post(path, content=body) if isinstance(body, bytes) else http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and fragment in response.json()["error"]


# Bodies nothing behind the parser can take (issue 17: 5,000 levels was a 500 on /api/chat), on every route.
HOSTILE_BODIES = {
    "invalid UTF-8": (b'{"model": "smollm2:135m", "prompt": "a\xed\xa0\x80b"}', "UTF-8"),
    "lone surrogate escape": (b'{"model": "smollm2:135m", "prompt": "a\\udc00b"}', "surrogate"),
    "5,000 nested arrays": (b'{"model": "smollm2:135m", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
    "5,000 nested objects": (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested"),
}


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/chat"), ("POST", "/api/generate"), ("POST", "/api/embed"), ("POST", "/api/embeddings"),
    ("POST", "/api/show"), ("POST", "/api/pull"), ("POST", "/api/copy"), ("DELETE", "/api/delete"),
])
@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_bodies_nothing_can_encode_or_nest_that_deep_are_a_400(http: httpx.Client, method: str, path: str,
                                                              kind: str) -> None:
    body, words = HOSTILE_BODIES[kind]
    response = http.request(method, path, content=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and words in response.json()["error"]


@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_the_passthrough_answers_them_in_openais_dialect(http: httpx.Client, kind: str) -> None:
    response = http.post("/v1/chat/completions", content=HOSTILE_BODIES[kind][0],
                         headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json", response.text
    assert http.get("/api/version").status_code == 200


def test_an_oversized_body_is_a_413(http: httpx.Client) -> None:
    body = b'{"model": "smollm2", "prompt": "' + b"a" * (65 * 1024 * 1024) + b'"}'
    response = http.post("/api/generate", content=body)
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_wrong_method_is_405_in_ollamas_shape(http: httpx.Client) -> None:
    response = http.get("/api/chat")
    assert response.status_code == 405 and "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/create"),
        ("POST", "/api/push"),
        ("POST", "/api/blobs/sha256:abc"),
        ("HEAD", "/api/blobs/sha256:abc"),
    ],
)
def test_authoring_endpoints_answer_a_clear_error(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={"model": "x"})
    assert response.status_code == 501
    if method != "HEAD":
        assert "not supported" in response.json()["error"]


def test_pull_of_a_served_model_streams_to_success(http: httpx.Client) -> None:
    lines = ndjson(http.post("/api/pull", json={"name": MODEL}))
    assert lines[-1] == {"status": "success"}


def test_num_ctx_is_a_context_budget(http: httpx.Client) -> None:
    history: list[dict[str, str]] = []
    for i in range(8):
        history += [
            {"role": "user", "content": f"Tell me about topic {i}. " * 12},
            {"role": "assistant", "content": f"Topic {i} is interesting. " * 12},
        ]
    history.append({"role": "user", "content": "Summarise."})
    body = {"model": MODEL, "messages": history, "stream": False, "options": {"temperature": 0, "num_predict": 4}}
    full = http.post("/api/chat", json=body).json()
    budget = http.post("/api/chat", json=body | {"options": {"num_predict": 4, "num_ctx": 300}}).json()
    assert full["prompt_eval_count"] > 600
    assert budget["prompt_eval_count"] < 300
    over = {"model": MODEL, "prompt": "word " * 400, "stream": False, "options": {"num_ctx": 100}}
    response = http.post("/api/generate", json=over)
    assert response.status_code == 400 and "num_ctx" in response.json()["error"]


def test_logprobs_come_back_per_token(http: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": False,
        "logprobs": True,
        "top_logprobs": 2,
        "options": SHORT,
    }
    reply = http.post("/api/chat", json=body).json()
    assert reply["logprobs"] and all({"token", "logprob", "top_logprobs"} <= set(lp) for lp in reply["logprobs"])


def test_openai_api_is_passed_through_under_v1(ollama_url: str) -> None:
    client = openai.OpenAI(base_url=f"{ollama_url}/v1", api_key="unused", max_retries=0)
    try:
        ids = [m.id for m in client.models.list()]
        assert "SmolLM2-135M-Instruct.Q4_1.gguf" in ids
        stream = client.chat.completions.create(
            model=ids[0], messages=[{"role": "user", "content": "Hi"}], max_tokens=5, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nosuch", messages=[{"role": "user", "content": "Hi"}])
    finally:
        client.close()


@pytest.mark.parametrize("sent", ["passthrough-id-1", "unsafe id\twith tabs"])
def test_the_passthrough_carries_one_request_id_both_ways(ollama_url: str, sent: str) -> None:
    response = httpx.get(f"{ollama_url}/v1/models", headers={"X-Request-ID": sent}, timeout=30)
    assert response.status_code == 200
    ids = response.headers.get_list("x-request-id")
    # One id in the answer: the layer's (the client's own where it is safe), which the upstream echoed too.
    assert len(ids) == 1
    assert (ids[0] == sent) == (sent == "passthrough-id-1")


def test_the_version_is_one_codex_accepts(http: httpx.Client) -> None:
    version = http.get("/api/version").json()["version"]
    assert tuple(int(x) for x in version.split(".")) >= (0, 13, 4)  # Codex's --oss check refuses older


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages"])
def test_the_v1_routes_take_ollama_model_names(http: httpx.Client, path: str) -> None:
    """As Ollama's own /v1 routes do: `codex --oss -m smollm2:135m` names the model the way /api/tags lists it."""
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 4, "max_output_tokens": 4,
                            "messages": [{"role": "user", "content": "Hi"}], "input": "Hi"}
    if path == "/v1/responses":
        body = {k: v for k, v in body.items() if k in ("model", "input", "max_output_tokens")}
    elif path == "/v1/messages":
        body = {k: v for k, v in body.items() if k in ("model", "messages", "max_tokens")}
    else:
        body = {k: v for k, v in body.items() if k in ("model", "messages", "max_tokens")}
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    unknown = http.post(path, json={**body, "model": "no-such-model:7b"})
    assert unknown.status_code == 404, unknown.text
