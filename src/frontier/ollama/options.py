"""Ollama `options`: type checks, and the mapping onto the Engine protocol's sampling parameters.

Ollama's option set mixes sampling options with load-time and legacy ones (num_gpu, use_mmap, mirostat...).
Clients still send the latter, so they are type-checked and ignored. Unknown keys are ignored too, as Ollama
does (it only logs them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontier.engine.protocol import SamplingParams
from frontier.errors import InvalidRequestError

_INT = "integer"
_FLOAT = "float"
_BOOL = "bool"
_STRINGS = "string list"

# Every option of Ollama's api.Options, by JSON kind.
# fmt: off
_INTS = ("num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "mirostat", "num_ctx", "num_batch",
         "num_gpu", "main_gpu", "num_thread", "num_gqa")
_FLOATS = ("top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty",
           "frequency_penalty", "mirostat_tau", "mirostat_eta", "tfs_z")
_BOOLS = ("penalize_newline", "numa", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mmap",
          "use_mlock", "embedding_only", "ignore_eos")
# Accepted and deliberately ignored: load-time settings the upstream owns, and samplers it does not have.
IGNORED = frozenset(("num_keep", "repeat_last_n", "mirostat", "mirostat_tau", "mirostat_eta", "tfs_z",
                     "typical_p", "penalize_newline", "numa", "num_batch", "num_gpu", "main_gpu",
                     "num_thread", "num_gqa", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mmap",
                     "use_mlock", "embedding_only"))
# fmt: on
KINDS: Mapping[str, str] = {
    **dict.fromkeys(_INTS, _INT),
    **dict.fromkeys(_FLOATS, _FLOAT),
    **dict.fromkeys(_BOOLS, _BOOL),
    "stop": _STRINGS,
}


@dataclass(frozen=True, slots=True)
class Sampling:
    """The options that change a generation, already checked."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    num_ctx: int | None = None
    ignore_eos: bool = False  # a Frontier/vLLM extension: generate exactly num_predict tokens (benchmarks)


def _check(key: str, value: Any) -> Any:
    kind = KINDS[key]
    if kind == _BOOL and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        pass  # JSON true/false is never a number
    elif kind == _FLOAT and isinstance(value, int | float):
        return float(value)
    elif kind == _INT and isinstance(value, int):
        return value
    elif kind == _INT and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON has one number type; 42.0 is a fine integer
    elif kind == _STRINGS and isinstance(value, str):
        return (value,)
    elif kind == _STRINGS and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InvalidRequestError(f'option "{key}" must be of type {kind}', param=f"options.{key}")


def parse_options(raw: Mapping[str, Any] | None) -> Sampling:
    """Checks every known option's type (400 naming the option) and keeps those that shape sampling."""
    if not raw:
        return Sampling()
    values = {key: _check(key, value) for key, value in raw.items() if key in KINDS and value is not None}
    num_predict = values.get("num_predict")
    seed = values.get("seed")
    return Sampling(
        temperature=values.get("temperature"),
        top_p=values.get("top_p"),
        top_k=values.get("top_k"),
        min_p=values.get("min_p"),
        # -1 (unlimited) and -2 (fill the context) both mean: no cap but the context.
        max_tokens=num_predict if num_predict is not None and num_predict > 0 else None,
        stop=values.get("stop", ()),
        seed=seed if seed is not None and seed >= 0 else None,
        presence_penalty=values.get("presence_penalty"),
        frequency_penalty=values.get("frequency_penalty"),
        repetition_penalty=values.get("repeat_penalty"),
        num_ctx=values.get("num_ctx") if values.get("num_ctx", 0) > 0 else None,
        ignore_eos=bool(values.get("ignore_eos", False)),
    )


def ignored_options(raw: Mapping[str, Any] | None) -> list[str]:
    """Options that are accepted but have no effect here (for a debug log line)."""
    return sorted(key for key in raw or {} if key in IGNORED or key not in KINDS)


def to_params(sampling: Sampling, *, logprobs: bool = False, top_logprobs: int = 0) -> SamplingParams:
    """The Engine protocol's sampling parameters. (An engine that fronts a plain OpenAI server drops the ones
    that server does not take: top_k, min_p, repetition_penalty, ignore_eos.)"""
    return SamplingParams(
        temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k, min_p=sampling.min_p,
        max_tokens=sampling.max_tokens, stop=list(sampling.stop), seed=sampling.seed,
        presence_penalty=sampling.presence_penalty, frequency_penalty=sampling.frequency_penalty,
        repetition_penalty=sampling.repetition_penalty, ignore_eos=sampling.ignore_eos,
        logprobs=logprobs or top_logprobs > 0, top_logprobs=top_logprobs or None,
    )
