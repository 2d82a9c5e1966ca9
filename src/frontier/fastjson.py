"""JSON on the paths every request and every streamed token takes, through orjson.

orjson encodes and decodes the small objects of a chat request, its answer and each token's line several
times faster than the json module; in the Ollama API that is a tenth of its whole per-request cost
(measured: docs/benchmarks.md). Where orjson is stricter than the json module, the json module decides, so
callers see the behaviour they had: input with lone surrogate escapes or NaN/Infinity literals still parses
(Ollama's Go decoder accepts the first), and output orjson refuses (a lone surrogate, an integer beyond
64 bits) is written by the json module with ASCII escapes, which is valid UTF-8 whatever the string held.

Request bodies are read by `loads_request`, stricter on purpose: what a client sends must reach a tokenizer and
a grammar builder, so invalid UTF-8, lone surrogates and nesting past MAX_DEPTH are refused as bad JSON (a 400
in either API's dialect) rather than failing later as a 500.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError  # orjson's own is a subclass
# Request bodies nest at most this deep. orjson's own limit (1024) is too deep for what runs behind: a JSON
# schema a few hundred levels deep exhausts the recursion limit of the grammar builder (a 500, found by trying),
# and a body near 1024 levels cannot be re-encoded once wrapped in one more object. 128 leaves a tool's or
# response format's schema 60 levels of properties.
MAX_DEPTH = 128


class RequestJSONError(json.JSONDecodeError):
    """A request body that is not JSON a model can be given: not JSON, not UTF-8, a lone surrogate, or nested
    beyond MAX_DEPTH. A subclass of JSONDecodeError, so every caller that renders bad JSON renders it."""

    def __init__(self, msg: str, doc: str = "", pos: int = 0) -> None:
        super().__init__(msg, doc, pos)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # raises the json module's error where the text really is not JSON


def loads_request(body: bytes) -> Any:
    """A request body, parsed strictly enough that everything behind it can encode what it holds.

    The json module accepts two things nothing downstream can handle: a lone UTF-16 surrogate, as raw bytes
    (it decodes bytes with `surrogatepass`) or as a `\\ud800` escape, which fails later as a 500 when the text is
    encoded for the tokenizer; and nesting deep enough to exhaust Python's recursion limit (a RecursionError,
    also a 500). orjson refuses all of these itself; the json module still decides what orjson alone refuses
    (NaN literals, integers past 64 bits), under the same rules."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        _check_depth(body, value)
        return value
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestJSONError(f"the body is not valid UTF-8 (byte {exc.start})", pos=exc.start) from None
    try:  # nesting orjson refused (over MAX_DEPTH) exhausts the json module's recursion limit too
        value = json.loads(text)
    except RecursionError:
        raise RequestJSONError(f"the body is nested more than {MAX_DEPTH} levels deep", text) from None
    try:  # a lone surrogate anywhere (key or value) cannot be encoded: find it once, here
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestJSONError("the body holds a lone UTF-16 surrogate escape (such as \\ud800), which is not a "
                               "character", text) from None
    except (RecursionError, ValueError):
        raise RequestJSONError(f"the body is nested more than {MAX_DEPTH} levels deep", text) from None
    _check_depth(body, value)
    return value


def _check_depth(body: bytes, value: Any) -> None:
    # Nesting needs an opening bracket per level: a body with few of them (most chats) is not walked at all.
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    if nesting(value) > MAX_DEPTH:
        raise RequestJSONError(f"the body is nested more than {MAX_DEPTH} levels deep")


def nesting(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()
