"""Ollama requests -> OpenAI requests. Pure functions: no I/O, no clock, ids from an injected factory."""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from frontier.errors import InvalidRequestError
from frontier.ollama.options import Sampling, to_openai_sampling
from frontier.ollama.wire import ChatRequest, GenerateRequest, Message, Think

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_MIME_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def new_tool_call_id() -> str:
    """Ollama's shape: 'call_' + 8 of [a-z0-9]."""
    return "call_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    path: str
    body: dict[str, Any]


def to_openai_format(fmt: Any) -> dict[str, Any] | None:
    """`"json"` -> json_object; a schema object -> json_schema; absent or "" -> None; anything else -> 400."""
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "format", "schema": fmt, "strict": True}}
    raise InvalidRequestError('invalid format: expected "json" or a JSON schema object', param="format")


def to_openai_think(think: Think | None, *, extensions: bool) -> dict[str, Any]:
    """Frontier's reasoning switch is the `enable_thinking` extension; levels also go out as OpenAI's
    standard reasoning_effort, which is all a plain OpenAI-compatible upstream gets."""
    if think is None:
        return {}
    effort = {"reasoning_effort": think} if isinstance(think, str) else {}
    return {"enable_thinking": bool(think), **effort} if extensions else effort


def sniff_mime(data: str) -> str:
    head = base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=False)
    for signature, mime in _MIME_SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def image_part(image: str) -> dict[str, Any]:
    """Ollama sends bare base64; a data URL passes as it is."""
    if image.startswith("data:"):
        return {"type": "image_url", "image_url": {"url": image}}
    try:
        mime = sniff_mime(image)
    except ValueError:
        raise InvalidRequestError("images must be base64-encoded", param="images") from None
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{image}"}}


def _content(text: str, images: Sequence[str] | None) -> str | list[dict[str, Any]]:
    if not images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    return parts + [image_part(image) for image in images]


def to_openai_messages(
    messages: Sequence[Message], new_id: Callable[[], str] = new_tool_call_id
) -> list[dict[str, Any]]:
    """Ollama history -> OpenAI history. Tool results are paired with the calls they answer: by
    tool_call_id, else by tool_name, else in call order; a result with no call gets a fresh id."""
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not yet answered, oldest first
    for message in messages:
        if message.role == "assistant":
            converted: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                calls = []
                for call in message.tool_calls:
                    call_id = call.id or new_id()
                    pending.append((call_id, call.function.name))
                    arguments = json.dumps(call.function.arguments, ensure_ascii=False)
                    calls.append(
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.function.name, "arguments": arguments},
                        }
                    )
                converted["tool_calls"] = calls
            out.append(converted)
        elif message.role == "tool":
            call_id = _pair_tool_result(message, pending) or new_id()
            out.append({"role": "tool", "tool_call_id": call_id, "content": message.content})
        else:
            out.append({"role": message.role, "content": _content(message.content, message.images)})
    return out


def _pair_tool_result(message: Message, pending: list[tuple[str, str]]) -> str | None:
    for position, (call_id, name) in enumerate(pending):
        if (message.tool_call_id and call_id == message.tool_call_id) or (
            not message.tool_call_id and message.tool_name and name == message.tool_name
        ):
            return pending.pop(position)[0]
    if message.tool_call_id:
        return message.tool_call_id
    if pending and not message.tool_name:
        return pending.pop(0)[0]
    return None


def _common(
    model_id: str, sampling: Sampling, stream: bool, extensions: bool, logprobs: bool, top_logprobs: int
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model_id, **to_openai_sampling(sampling, extensions=extensions)}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    if logprobs or top_logprobs:
        body["logprobs"] = True
        if top_logprobs:
            body["top_logprobs"] = top_logprobs
    return body


def to_openai_chat(
    req: ChatRequest,
    model_id: str,
    sampling: Sampling,
    *,
    extensions: bool,
    messages: list[dict[str, Any]] | None = None,
    new_id: Callable[[], str] = new_tool_call_id,
) -> dict[str, Any]:
    """/api/chat -> /v1/chat/completions body. `messages` overrides the converted history (context budget)."""
    body = _common(model_id, sampling, req.streaming, extensions, req.logprobs, req.top_logprobs)
    body["messages"] = messages if messages is not None else to_openai_messages(req.messages, new_id)
    if req.tools:  # the Python client always sends "tools": []
        body["tools"] = req.tools
    response_format = to_openai_format(req.format)
    if response_format:
        body["response_format"] = response_format
    return body | to_openai_think(req.think, extensions=extensions)


def check_generate(req: GenerateRequest) -> None:
    if req.raw and (req.template or req.system or req.context):
        raise InvalidRequestError("raw mode does not support template, system, or context", param="raw")
    if req.raw and req.images:
        raise InvalidRequestError("raw mode does not support images", param="raw")


def generate_messages(req: GenerateRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.system}] if req.system else []
    return messages + [{"role": "user", "content": _content(req.prompt, req.images)}]


def to_openai_generate(
    req: GenerateRequest,
    model_id: str,
    sampling: Sampling,
    *,
    extensions: bool,
    messages: list[dict[str, Any]] | None = None,
) -> UpstreamCall:
    """/api/generate -> a plain completion when the prompt is already templated (raw) or fills a middle
    (suffix), else a one-turn chat so the upstream applies the model's own template."""
    check_generate(req)
    body = _common(model_id, sampling, req.streaming, extensions, req.logprobs, req.top_logprobs)
    response_format = to_openai_format(req.format)
    if response_format:
        body["response_format"] = response_format
    if req.raw or req.suffix:
        body["prompt"] = req.prompt
        if req.suffix:
            body["suffix"] = req.suffix
        if req.logprobs or req.top_logprobs:
            body["logprobs"] = req.top_logprobs or 1  # the completions API takes a count here
            body.pop("top_logprobs", None)
        return UpstreamCall(COMPLETIONS_PATH, body)
    body["messages"] = messages if messages is not None else generate_messages(req)
    return UpstreamCall(CHAT_PATH, body | to_openai_think(req.think, extensions=extensions))


def to_openai_embeddings(model_id: str, inputs: list[str], dimensions: int | None,
                         truncate: bool | None = None) -> dict[str, Any]:
    """`truncate` (Ollama's, true by default there) goes only to an upstream that knows it (Frontier's server)."""
    body: dict[str, Any] = {"model": model_id, "input": inputs, "encoding_format": "float"}
    if dimensions:
        body["dimensions"] = dimensions
    if truncate is not None:
        body["truncate"] = truncate
    return body
