"""`frontier check aider`: the requests Aider makes through litellm, replayed against a running Ollama API.

Aider asks litellm for the model's info at start-up (litellm: POST /api/show {"name"}), then chats with
`temperature: 0` and `num_ctx = int(prompt_tokens * 1.25) + 8192` on every request: streamed for the main
conversation, non-stream for summaries. With the `ollama_chat/` provider that is POST /api/chat; with
`ollama/` it is POST /api/generate with the history flattened into "### System/User:" blocks. Each answer
is checked for what litellm reads from it (its parsers crash or mislead on anything less).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx

from frontier.security.auth import auth_headers

SYSTEM = "Act as an expert software developer. Always use best practices when coding."
USER = "Write a Python function that adds two numbers."
DONE_REASONS = ("stop", "length")


@dataclass(frozen=True, slots=True)
class CheckResult:
    step: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _num_ctx(messages: list[dict[str, str]]) -> int:
    # Aider counts with the model's tokenizer; ~4 characters a token is close enough for the request shape.
    tokens = sum(len(m["content"]) for m in messages) // 4
    return int(tokens * 1.25) + 8192


def _flattened(messages: list[dict[str, str]]) -> str:
    """litellm's ollama_pt for a system + user history."""
    blocks = {"system": "### System:\n{}\n\n", "user": "### User:\n{}\n\n"}
    return "".join(blocks[m["role"]].format(m["content"]) for m in messages)


def _final_checks(final: dict[str, Any]) -> str:
    _expect(final.get("done") is True, "final object lacks done: true")
    _expect(final.get("done_reason") in DONE_REASONS, f"done_reason is {final.get('done_reason')!r}")
    for key in ("prompt_eval_count", "eval_count"):
        _expect(isinstance(final.get(key), int), f"{key} missing or not an integer")
    for key in ("total_duration", "eval_duration"):
        _expect(isinstance(final.get(key), int) and final[key] > 0, f"{key} missing or not positive")
    return f"done_reason={final['done_reason']} prompt_eval_count={final['prompt_eval_count']} "


def _read_ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    _expect(response.status_code == 200, f"HTTP {response.status_code}: {response.text[:200]}")
    kind = response.headers.get("content-type", "")
    _expect(kind.startswith("application/x-ndjson"), f"content-type is {kind!r}, not application/x-ndjson")
    lines = response.text.split("\n")
    _expect(lines[-1] == "", "stream does not end with a newline")
    parsed = []
    for number, line in enumerate(lines[:-1], 1):
        _expect(line.strip() != "", f"blank line {number} (litellm's json.loads crashes on it)")
        obj = json.loads(line)
        _expect("error" not in obj, f"error line: {obj.get('error')}")
        parsed.append(obj)
    _expect(bool(parsed), "empty stream")
    done = [obj for obj in parsed if obj.get("done")]
    _expect(len(done) == 1 and parsed[-1].get("done") is True, "not exactly one final done:true line, last")
    return parsed


def _json(response: httpx.Response) -> dict[str, Any]:
    _expect(response.status_code == 200, f"HTTP {response.status_code}: {response.text[:200]}")
    kind = response.headers.get("content-type", "")
    _expect(kind.startswith("application/json"), f"content-type is {kind!r}")
    body = response.json()
    _expect(isinstance(body, dict), "answer is not a JSON object")
    return cast(dict[str, Any], body)


def _show(client: httpx.Client, model: str) -> str:
    info = _json(client.post("/api/show", json={"name": model}))
    model_info = info.get("model_info")
    if not isinstance(model_info, dict):
        raise CheckFailed("model_info missing")
    window = next((v for k, v in model_info.items() if "context_length" in k), None)
    _expect(isinstance(window, int) and window > 0, "no *context_length key in model_info")
    tools = "tools" in str(info.get("template") or "").lower()
    return f"context window {window}, litellm sees tool support: {tools}"


def _chat(client: httpx.Client, model: str, stream: bool) -> str:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    options = {"temperature": 0, "num_ctx": _num_ctx(messages)}
    body = {"model": model, "messages": messages, "options": options}
    response = client.post("/api/chat", json=body | {"stream": stream})
    if stream:
        lines = _read_ndjson(response)
        for line in lines:
            _expect(all(key in line for key in ("model", "message", "done")), "line lacks model/message/done")
            _expect(line["message"].get("role") == "assistant", "message.role is not assistant")
            _expect(line["message"].get("thinking") != "", 'a line carries "thinking": ""')
        text = "".join(line["message"].get("content") or "" for line in lines)
        final = lines[-1]
    else:
        final = _json(response)
        _expect(isinstance(final.get("message"), dict), "message missing")
        text = final["message"].get("content") or ""
    _expect(bool(text.strip()), "no content")
    return _final_checks(final) + f"eval_count={final['eval_count']}: {text.strip()[:60]!r}"


def _generate(client: httpx.Client, model: str) -> str:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    body = {
        "model": model,
        "prompt": _flattened(messages),
        "options": {"temperature": 0, "num_ctx": _num_ctx(messages)},
        "stream": True,
    }
    lines = _read_ndjson(client.post("/api/generate", json=body))
    for line in lines:
        _expect("response" in line and "done" in line, "line lacks response/done")
    text = "".join(line["response"] for line in lines)
    _expect(bool(text.strip()), "no response text")
    final = lines[-1]
    return _final_checks(final) + f"eval_count={final['eval_count']}: {text.strip()[:60]!r}"


def run_checks(url: str, model: str, *, timeout: float = 120.0, api_key: str = "") -> list[CheckResult]:
    steps: list[tuple[str, Callable[[httpx.Client, str], str]]] = [
        ("show (litellm.get_model_info)", _show),
        ("chat, streamed (ollama_chat/, main conversation)", lambda c, m: _chat(c, m, stream=True)),
        ("chat, non-stream (ollama_chat/, summaries)", lambda c, m: _chat(c, m, stream=False)),
        ("generate, streamed (ollama/ provider)", _generate),
    ]
    results = []
    headers = auth_headers(api_key)  # what litellm sends with OLLAMA_API_KEY
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, trust_env=False, headers=headers) as client:
        for name, step in steps:
            try:
                results.append(CheckResult(name, True, step(client, model)))
            except (CheckFailed, httpx.HTTPError, ValueError) as exc:
                results.append(CheckResult(name, False, str(exc) or type(exc).__name__))
    return results
