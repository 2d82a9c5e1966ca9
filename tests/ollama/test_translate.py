"""Ollama requests -> the Engine protocol's GenerationRequest: table-driven, no server. Where the tables give an
OpenAI body, it is what the remote engine sends an upstream for that request (the proxy arrangement), so both
halves of that path are checked together."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest

from frontier.engine.protocol import GenerationRequest
from frontier.engine.remote.translate import CHAT_PATH, COMPLETIONS_PATH, request_body, response_format
from frontier.errors import InvalidRequestError
from frontier.ollama.options import parse_options
from frontier.ollama.translate import (
    chat_request,
    generate_request,
    image_part,
    new_tool_call_id,
    sniff_mime,
    to_grammar,
    to_openai_messages,
)
from frontier.ollama.wire import ChatRequest, GenerateRequest, Message, parse_body

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 40).decode()
GIF = base64.b64encode(b"GIF89a" + b"\0" * 40).decode()
WEBP = base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 40).decode()


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter):08d}"


STREAMED = {"stream": True, "stream_options": {"include_usage": True}}


def upstream_body(req: GenerationRequest, extensions: bool = True) -> tuple[str, dict[str, Any]]:
    """What the remote engine sends for `req`, less the streaming fields it always sends."""
    path, body = request_body(req, extensions=extensions)
    assert {key: body.pop(key) for key in STREAMED} == STREAMED
    return path, body


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (None, None),
        ("", None),
        ("json", {"type": "json_object"}),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "format",
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    "strict": True,
                },
            },
        ),
    ],
)
def test_format_maps_to_response_format(fmt: Any, expected: Any) -> None:
    assert response_format(to_grammar(fmt)) == expected


@pytest.mark.parametrize("fmt", ["xml", "JSON ", 3, ["json"], True])
def test_any_other_format_is_invalid(fmt: Any) -> None:
    with pytest.raises(InvalidRequestError, match="invalid format"):
        to_grammar(fmt)


def test_a_format_that_is_no_json_schema_is_invalid() -> None:
    with pytest.raises(InvalidRequestError, match="not a valid JSON schema"):
        to_grammar({"type": "objekt"})


@pytest.mark.parametrize(
    ("think", "extensions", "expected"),
    [
        (None, True, {}),
        (True, True, {"enable_thinking": True}),
        (False, True, {"enable_thinking": False}),
        ("high", True, {"enable_thinking": True, "reasoning_effort": "high"}),
        (True, False, {}),
        ("low", False, {"reasoning_effort": "low"}),
    ],
)
def test_think_maps_to_the_reasoning_switch(think: Any, extensions: bool, expected: dict[str, Any]) -> None:
    req = ChatRequest.model_validate({"model": "m", "messages": [], "think": think, "stream": False})
    _, body = upstream_body(chat_request(req, "m", parse_options(None)), extensions)
    assert {key: body[key] for key in ("enable_thinking", "reasoning_effort") if key in body} == expected


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (base64.b64encode(b"??").decode(), "image/jpeg"),
    ],
)
def test_images_get_a_sniffed_mime_type(data: str, mime: str) -> None:
    assert sniff_mime(data) == mime
    assert image_part(data) == {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def test_a_data_url_image_passes_unchanged() -> None:
    url = f"data:image/png;base64,{PNG}"
    assert image_part(url)["image_url"]["url"] == url


def test_tool_call_ids_look_like_ollamas() -> None:
    call_id = new_tool_call_id()
    assert call_id.startswith("call_") and len(call_id) == 13 and call_id[5:].isalnum() and call_id[5:].islower()


def _messages(*raw: dict[str, Any]) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


CALL = {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}}
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "plain roles are lower-cased and kept",
        [{"role": "SYSTEM", "content": "be brief"}, {"role": "user", "content": "hi"}],
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    ),
    (
        "images become image parts after the text",
        [{"role": "user", "content": "what is this", "images": [PNG]}],
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    ),
    (
        "object arguments are dumped, results paired in call order",
        [
            {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]},
            {"role": "tool", "content": "3"},
            {"role": "tool", "content": "3 again"},
        ],
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_00000001",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
                    },
                    {
                        "id": "call_00000002",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_00000001", "content": "3"},
            {"role": "tool", "tool_call_id": "call_00000002", "content": "3 again"},
        ],
    ),
    (
        "results pair by tool_name",
        [
            {"role": "assistant", "tool_calls": [{"function": {"name": "a"}}, {"function": {"name": "b"}}]},
            {"role": "tool", "tool_name": "b", "content": "B"},
            {"role": "tool", "tool_name": "a", "content": "A"},
        ],
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_00000001", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "call_00000002", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_00000002", "content": "B"},
            {"role": "tool", "tool_call_id": "call_00000001", "content": "A"},
        ],
    ),
    (
        "results pair by tool_call_id, and given ids are kept",
        [
            {
                "role": "assistant",
                "tool_calls": [{"id": "call_x", "function": {"name": "a", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_x", "content": "A"},
        ],
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "call_x", "type": "function", "function": {"name": "a", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_x", "content": "A"},
        ],
    ),
    (
        "a result with no call gets a fresh id",
        [{"role": "tool", "content": "orphan"}],
        [{"role": "tool", "tool_call_id": "call_00000001", "content": "orphan"}],
    ),
]


@pytest.mark.parametrize(("messages", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_history_translates_to_openai(messages: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert to_openai_messages(_messages(*messages), ids()) == expected


def test_chat_request_translates_with_stream_usage_tools_and_format() -> None:
    req = ChatRequest.model_validate(
        {
            "model": "smollm2",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "format": "json",
            "options": {"temperature": 0, "num_predict": 5},
        }
    )
    path, body = upstream_body(chat_request(req, "Smol.gguf", parse_options(req.options)))
    assert path == CHAT_PATH
    assert body == {
        "model": "Smol.gguf",
        "temperature": 0.0,
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_object"},
    }


def test_empty_tools_and_empty_format_are_absent() -> None:
    req = ChatRequest.model_validate({"model": "m", "messages": [], "tools": [], "format": "", "stream": False})
    generation = chat_request(req, "m", parse_options(None))
    assert generation.tools is None and generation.grammar is None
    assert upstream_body(generation)[1] == {"model": "m", "messages": []}


def test_logprobs_are_requested_when_asked() -> None:
    req = ChatRequest.model_validate({"model": "m", "stream": False, "logprobs": True, "top_logprobs": 3})
    generation = chat_request(req, "m", parse_options(None))
    assert generation.params.logprobs is True and generation.params.top_logprobs == 3
    assert upstream_body(generation)[1]["top_logprobs"] == 3


def test_samplers_outside_openai_go_only_to_an_upstream_that_takes_them() -> None:
    req = ChatRequest.model_validate({"model": "m", "stream": False, "keep_alive": "5m", "options": {
        "top_k": 7, "min_p": 0.1, "repeat_penalty": 1.2, "temperature": 0.5}})
    generation = chat_request(req, "m", parse_options(req.options), keep_alive=300.0)
    assert (generation.params.top_k, generation.params.min_p, generation.params.repetition_penalty) == (7, 0.1, 1.2)
    assert upstream_body(generation)[1] == {"model": "m", "messages": [], "temperature": 0.5, "top_k": 7,
                                            "min_p": 0.1, "repetition_penalty": 1.2, "keep_alive": 300.0}
    assert upstream_body(generation, extensions=False)[1] == {"model": "m", "messages": [], "temperature": 0.5}


@pytest.mark.parametrize(
    ("request_", "path", "expected"),
    [
        ({"prompt": "hi"}, CHAT_PATH, {"messages": [{"role": "user", "content": "hi"}]}),
        (
            {"prompt": "hi", "system": "be brief"},
            CHAT_PATH,
            {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
        ),
        (
            {"prompt": "<|im_start|>user\nhi", "raw": True},
            COMPLETIONS_PATH,
            {"prompt": "<|im_start|>user\nhi"},
        ),
        (
            {"prompt": "def f(", "suffix": "\n    return x"},
            COMPLETIONS_PATH,
            {"prompt": "def f(", "suffix": "\n    return x"},
        ),
        (
            {"prompt": "x", "raw": True, "logprobs": True, "top_logprobs": 2},
            COMPLETIONS_PATH,
            {"prompt": "x", "logprobs": 2},
        ),
        (
            {"prompt": "look", "images": [JPEG]},
            CHAT_PATH,
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
                        ],
                    }
                ]
            },
        ),
    ],
)
def test_generate_picks_chat_or_plain_completion(request_: dict[str, Any], path: str, expected: dict[str, Any]) -> None:
    req = GenerateRequest.model_validate({"model": "m", "stream": False, **request_})
    assert upstream_body(generate_request(req, "up", parse_options(None))) == (path, {"model": "up", **expected})


@pytest.mark.parametrize(
    "extra", [{"system": "s"}, {"template": "{{ .Prompt }}"}, {"context": [1, 2]}, {"images": [PNG]}]
)
def test_raw_with_system_template_context_or_images_is_rejected(extra: dict[str, Any]) -> None:
    req = GenerateRequest.model_validate({"model": "m", "prompt": "p", "raw": True, **extra})
    with pytest.raises(InvalidRequestError, match="raw mode does not support"):
        generate_request(req, "m", parse_options(None))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"model": "m", "stream": "sometimes"}, "invalid stream"),
        ({"model": "m", "top_logprobs": 21}, "invalid top_logprobs"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "invalid messages.0.role"),
        ({"model": "m", "think": "extreme"}, "invalid think"),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "not json"}}],
                    }
                ],
            },
            "JSON object",
        ),
    ],
)
def test_malformed_bodies_are_400s_naming_the_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse_body(ChatRequest, body)


def test_wire_defaults_and_aliases() -> None:
    req = parse_body(
        ChatRequest,
        {
            "name": "smollm2",
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"function": {"name": "f", "arguments": ""}}],
                }
            ],
        },
    )
    assert req.model == "smollm2"
    assert req.streaming is True
    assert parse_body(ChatRequest, {"model": "m", "stream": None}).streaming is True
    assert parse_body(ChatRequest, {"model": "m", "stream": False}).streaming is False
    assert req.messages[0].content == ""
    assert req.messages[0].tool_calls is not None
    assert req.messages[0].tool_calls[0].function.arguments == {}
