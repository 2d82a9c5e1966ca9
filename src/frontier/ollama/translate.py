"""Ollama requests -> the Engine protocol's GenerationRequest (its messages in OpenAI's form). Pure functions:
no I/O, no clock, ids from an injected factory."""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Callable, Sequence
from typing import Any

import jsonschema

from frontier.engine.protocol import GenerationRequest, Grammar
from frontier.errors import InvalidRequestError
from frontier.ollama.options import Sampling, to_params
from frontier.ollama.wire import ChatRequest, GenerateRequest, Message

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


def to_grammar(fmt: Any) -> Grammar | None:
    """`"json"` -> any JSON object; a schema object -> that schema; absent or "" -> None; anything else -> 400."""
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return Grammar(kind="json_schema", value=json.dumps({"type": "object"}))
    if isinstance(fmt, dict):
        # The engine only finds a bad schema after admission, as a generation failure; check it up front.
        try:
            jsonschema.Draft202012Validator.check_schema(fmt)
        except jsonschema.SchemaError as exc:
            raise InvalidRequestError(f"format is not a valid JSON schema: {exc.message}", param="format") from None
        return Grammar(kind="json_schema", value=json.dumps(fmt))
    raise InvalidRequestError('invalid format: expected "json" or a JSON schema object', param="format")


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


def _request(req: ChatRequest | GenerateRequest, model_id: str, sampling: Sampling,
             keep_alive: float | None) -> GenerationRequest:
    think = req.think
    return GenerationRequest(
        model=model_id,
        params=to_params(sampling, logprobs=req.logprobs, top_logprobs=req.top_logprobs),
        grammar=to_grammar(req.format),
        enable_thinking=None if think is None else bool(think),
        reasoning_effort=think if isinstance(think, str) else None,
        keep_alive=keep_alive,
    )


def chat_request(req: ChatRequest, model_id: str, sampling: Sampling, *, keep_alive: float | None = None,
                 messages: list[dict[str, Any]] | None = None,
                 new_id: Callable[[], str] = new_tool_call_id) -> GenerationRequest:
    """/api/chat -> a generation. `messages` overrides the converted history (context budget)."""
    out = _request(req, model_id, sampling, keep_alive)
    out.messages = messages if messages is not None else to_openai_messages(req.messages, new_id)
    out.tools = req.tools or None  # the Python client always sends "tools": []
    return out


def check_generate(req: GenerateRequest) -> None:
    if req.raw and (req.template or req.system or req.context):
        raise InvalidRequestError("raw mode does not support template, system, or context", param="raw")
    if req.raw and req.images:
        raise InvalidRequestError("raw mode does not support images", param="raw")


def generate_messages(req: GenerateRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.system}] if req.system else []
    return messages + [{"role": "user", "content": _content(req.prompt, req.images)}]


def generate_request(req: GenerateRequest, model_id: str, sampling: Sampling, *,
                     keep_alive: float | None = None) -> GenerationRequest:
    """/api/generate -> a plain completion when the prompt is already templated (raw) or fills a middle
    (suffix), else a one-turn chat so the engine applies the model's own template."""
    check_generate(req)
    out = _request(req, model_id, sampling, keep_alive)
    if req.raw or req.suffix:
        out.prompt, out.suffix = req.prompt, req.suffix or None
        out.enable_thinking = out.reasoning_effort = None
    else:
        out.messages = generate_messages(req)
    return out
