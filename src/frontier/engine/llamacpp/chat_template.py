"""Rendering a GGUF's own chat template (Jinja, as Hugging Face writes them) into a prompt. Pure.

llama.cpp's C API only knows a fixed list of template styles; rendering the model's real template with
Jinja (as llama-server does with --jinja) keeps the exact prompt the model was trained on, tools included.
"""

from __future__ import annotations

import datetime
import json
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from frontier.errors import InvalidRequestError

# Used when a GGUF carries no template: ChatML, what most small instruct models (SmolLM2 among them) use.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise InvalidRequestError(f"the model's chat template refused the conversation: {message}", param="messages")


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@lru_cache(maxsize=8)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = lambda value, indent=None, **_: json.dumps(value, indent=indent, ensure_ascii=False)
    return env.from_string(source)


def render(
    template: str, messages: list[dict[str, Any]], *, bos: str = "", eos: str = "",
    tools: list[dict[str, Any]] | None = None, enable_thinking: bool | None = None,
) -> str:
    """The prompt for `messages` (OpenAI-style dicts, content already text), ending where the assistant
    answers. The BOS text is left to the template, as Hugging Face templates expect."""
    extra: dict[str, Any] = {}
    if enable_thinking is not None:
        extra["enable_thinking"] = enable_thinking
    try:
        return str(_compile(template or CHATML).render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos,
            tools=tools or None, **extra,
        ))
    except InvalidRequestError:
        raise
    except (TemplateError, TypeError, KeyError, ValueError) as exc:
        raise InvalidRequestError(f"the model's chat template failed on these messages: {exc}",
                                  param="messages") from None
