"""JSON on the paths every request and every streamed token takes, through orjson.

orjson encodes and decodes the small objects of a chat request, its answer and each token's line several
times faster than the json module; in the Ollama layer that is a tenth of its whole per-request cost
(measured: docs/benchmarks.md). Where orjson is stricter than the json module, the json module decides, so
callers see the behaviour they had: input with lone surrogate escapes or NaN/Infinity literals still parses
(Ollama's Go decoder accepts the first), and output orjson refuses (a lone surrogate, an integer beyond
64 bits) is written by the json module with ASCII escapes, which is valid UTF-8 whatever the string held.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError  # orjson's own is a subclass


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # raises the json module's error where the text really is not JSON


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()
