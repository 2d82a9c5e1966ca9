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
