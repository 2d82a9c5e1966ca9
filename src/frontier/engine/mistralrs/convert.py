"""Pure conversions between Frontier's engine dataclasses and mistral.rs request/chunk objects."""

from __future__ import annotations

import json
from typing import Any

from frontier.engine.messages import to_engine_messages
from frontier.engine.protocol import Delta, GenerationRequest, TokenLogprob, ToolCall, Usage
from frontier.errors import InvalidRequestError

_FINISH = {"stop": "stop", "eos": "stop", "length": "length", "tool_calls": "tool_calls", "canceled": "stop"}


def request_kwargs(req: GenerationRequest, model_id: str, max_tokens: int) -> dict[str, Any]:
    """Keyword arguments for mistralrs.ChatCompletionRequest. Always streaming: the Runner's borrow ends
    once a streamed request is queued, which is what makes concurrent requests possible."""
    kwargs = _common_kwargs(req, model_id, max_tokens)
    p = req.params
    kwargs.update({
        "messages": to_engine_messages(req.messages or []),
        "stream": True,
        "logprobs": p.logprobs,
        "top_logprobs": p.top_logprobs if p.logprobs else None,
    })
    if req.tools and req.tool_choice != "none":
        kwargs["tool_schemas"] = [json.dumps(t) for t in req.tools]
    if req.enable_thinking is not None:
        kwargs["enable_thinking"] = req.enable_thinking
    if req.reasoning_effort is not None:
        kwargs["reasoning_effort"] = req.reasoning_effort
    return kwargs


def completion_kwargs(req: GenerationRequest, model_id: str, max_tokens: int) -> dict[str, Any]:
    """Keyword arguments for mistralrs.CompletionRequest (a raw, untemplated prompt). The binding offers
    no streaming here: a string `messages` in a chat request gets the chat template applied, so it is no
    substitute (measured: 5 prompt tokens became 35)."""
    if req.params.logprobs:
        raise InvalidRequestError(
            "logprobs are not supported for raw completions by this engine", param="logprobs",
            code="unsupported_value",
        )
    kwargs = _common_kwargs(req, model_id, max_tokens)
    kwargs["prompt"] = req.prompt or ""
    return kwargs


def _common_kwargs(req: GenerationRequest, model_id: str, max_tokens: int) -> dict[str, Any]:
    p = req.params
    kwargs: dict[str, Any] = {
        "model": model_id,
        "max_tokens": max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "top_k": p.top_k,
        "min_p": p.min_p,
        "presence_penalty": p.presence_penalty,
        "frequency_penalty": p.frequency_penalty,
        "repetition_penalty": p.repetition_penalty,
        "stop_seqs": engine_stops(p.stop),
        "ignore_eos": p.ignore_eos,
    }
    if p.logit_bias:
        kwargs["logit_bias"] = dict(p.logit_bias)
    if req.grammar is not None:
        kwargs["grammar"] = req.grammar.value
        kwargs["grammar_type"] = req.grammar.kind
    if req.adapter:
        kwargs["adapter"] = req.adapter
    return kwargs


def _logprob(lp: Any) -> TokenLogprob:
    top: list[tuple[str, float, list[int] | None]] = [
        (str(t.bytes if t.bytes is not None else t.token), float(t.logprob), None) for t in lp.top_logprobs or []
    ]
    return TokenLogprob(
        token=str(lp.token), logprob=float(lp.logprob), bytes=list(lp.bytes) if lp.bytes else None, top=top
    )


def from_chunk(chunk: Any, index: int) -> Delta:
    """One mistral.rs streamed chunk (a single choice, since Frontier fans n out itself) -> Delta."""
    delta = Delta(index=index)
    for choice in chunk.choices:
        d = choice.delta
        delta.text += d.content or ""
        delta.reasoning += d.reasoning_content or ""
        for call in d.tool_calls or []:
            delta.tool_calls.append(
                ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments, index=call.index)
            )
        if choice.logprobs is not None:
            delta.logprobs.append(_logprob(choice.logprobs))
        if choice.finish_reason:
            delta.finish_reason = _FINISH.get(choice.finish_reason, "stop")  # type: ignore[assignment]
    if chunk.usage is not None:
        delta.usage = _usage(chunk.usage)
    if delta.tool_calls and delta.finish_reason == "stop":
        delta.finish_reason = "tool_calls"
    return delta


def _usage(u: Any) -> Usage:
    return Usage(
        prompt_tokens=int(u.prompt_tokens),
        completion_tokens=int(u.completion_tokens),
        prompt_seconds=float(u.total_prompt_time_sec),
        completion_seconds=float(u.total_completion_time_sec),
    )


def from_completion(response: Any, index: int) -> Delta:
    """A whole (non-streamed) mistral.rs CompletionResponse -> one final Delta carrying usage."""
    choice = response.choices[0]
    return Delta(
        index=index,
        text=choice.text,
        finish_reason=_FINISH.get(choice.finish_reason, "stop"),  # type: ignore[arg-type]
        usage=_usage(response.usage),
    )


def engine_stops(stops: list[str]) -> list[str] | None:
    """The stop strings to hand mistral.rs, each also with a leading space.

    mistral.rs 0.9.5 matches a stop string that is one token as that token's id: "They" (token 6090) never
    stops a text where the word arrives as " They" (another token), so a word from the middle of an answer
    did not stop it. The space-prefixed twin is the token the word has mid-text; both are sent.
    """
    out: list[str] = []
    for stop in stops:
        for variant in (stop, " " + stop if stop[:1].strip() else ""):
            if variant and variant not in out:
                out.append(variant)
    return out or None
