"""JSON through orjson, with the json module deciding wherever orjson is stricter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from frontier import fastjson


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"model":"m","n":1,"x":1.5,"ok":true,"z":null}', {"model": "m", "n": 1, "x": 1.5, "ok": True, "z": None}),
        ('{"text":"h\u00e9llo \U0001f600"}', {"text": "h\u00e9llo \U0001f600"}),
        (b'  [1, 2]\n', [1, 2]),
        (b'"\\ud800 lone"', "\ud800 lone"),  # orjson refuses a lone surrogate; Ollama's Go decoder takes it
        (b"[NaN, Infinity]", [float("nan"), float("inf")]),
    ],
)
def test_loads_reads_what_the_json_module_reads(text: bytes | str, expected: Any) -> None:
    got = fastjson.loads(text)
    assert json.dumps(got) == json.dumps(expected)  # (NaN != NaN, so compared as text)


@pytest.mark.parametrize("text", [b"", b"{", b'{"a":}', b"\xff\xfe", b"[1,]"])
def test_text_that_is_not_json_raises_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        fastjson.loads(text)


@pytest.mark.parametrize(
    "obj",
    [
        {"model": "m", "message": {"role": "assistant", "content": "h\u00e9 \U0001f600"}, "done": True},
        [1, 2.5, None, "x"],
        {"seed": 2**70},  # beyond orjson's 64 bits
        {"content": "half an emoji \ud83d"},  # a lone surrogate, as a broken upstream might send one
    ],
)
def test_dumps_writes_compact_utf8_that_reads_back(obj: Any) -> None:
    data = fastjson.dumps(obj)
    assert isinstance(data, bytes) and b"\n" not in data and b": " not in data
    data.decode("utf-8")  # valid UTF-8 whatever the strings held
    assert json.loads(data) == obj


# Request bodies: the two payloads that were a 500 (issue 17), and their siblings.
DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"content": "\xed\xa0\x80"}', "not valid UTF-8"),  # a lone surrogate written with surrogatepass
        (b'{"content": "caf\xe9"}', "not valid UTF-8"),  # Latin-1
        (b'{"content": "\\ud800 lone"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),  # in a key
        (b'{"a": [{"b": "\\ud83d"}]}', "surrogate"),  # half an emoji, nested
        (DEEP, "nested"),
        (b'{"a": ' + b"{\"b\": " * 5000 + b"1" + b"}" * 5001, "nested"),
        (b'{"a": ' + b"[" * 128 + b"]" * 128 + b"}", "nested"),  # one past MAX_DEPTH, under orjson's own limit
        (b'{"n": NaN, "a": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nested"),  # the json module's path, too
        (b'{"model": ', ""),
    ],
)
def test_request_bodies_nothing_downstream_can_take_are_refused(body: bytes, words: str) -> None:
    with pytest.raises(fastjson.RequestJSONError if words else fastjson.JSONDecodeError) as caught:
        fastjson.loads_request(body)
    assert words in caught.value.msg


@pytest.mark.parametrize(
    "body",
    [
        b'{"content": "h\xc3\xa9 \xf0\x9f\x98\x80 \\ud83d\\ude00"}',  # UTF-8 and an escaped surrogate pair
        b'{"a": ' + b"[" * 127 + b"]" * 127 + b"}",  # exactly MAX_DEPTH
        b'{"seed": 1180591620717411303424, "t": NaN}',  # what only the json module reads
        b'{"s": "' + b"[" * 500 + b'"}',  # brackets in a string are not nesting
    ],
)
def test_request_bodies_within_the_rules_parse(body: bytes) -> None:
    assert json.dumps(fastjson.loads_request(body)) == json.dumps(fastjson.loads(body))


def test_nesting_counts_lists_and_objects_without_recursion() -> None:
    assert fastjson.nesting(3) == 0
    assert fastjson.nesting({"a": [1, {"b": []}]}) == 4
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert fastjson.nesting(deep) == 100_001
