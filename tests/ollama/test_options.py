"""Ollama `options`: type checks and the mapping onto OpenAI sampling fields, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from frontier.engine.protocol import GenerationRequest
from frontier.engine.remote.translate import request_body
from frontier.errors import InvalidRequestError
from frontier.ollama.options import Sampling, ignored_options, parse_options, to_params


def to_openai_sampling(sampling: Sampling, *, extensions: bool) -> dict[str, Any]:
    """The sampling fields of what the remote engine sends an upstream, for these options."""
    _, body = request_body(GenerationRequest(model="m", prompt="p", params=to_params(sampling)),
                           extensions=extensions)
    return {k: v for k, v in body.items() if k not in ("model", "prompt", "stream", "stream_options")}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, {}),
        ({}, {}),
        ({"temperature": 0}, {"temperature": 0.0}),
        ({"temperature": 0.7, "top_p": 0.9}, {"temperature": 0.7, "top_p": 0.9}),
        ({"top_k": 40, "min_p": 0.05}, {"top_k": 40, "min_p": 0.05}),
        ({"num_predict": 42}, {"max_tokens": 42}),
        ({"num_predict": 42.0}, {"max_tokens": 42}),
        ({"num_predict": -1}, {}),
        ({"num_predict": -2}, {}),
        ({"num_predict": 0}, {}),
        ({"stop": ["\n", "User:"]}, {"stop": ["\n", "User:"]}),
        ({"stop": "###"}, {"stop": ["###"]}),
        ({"stop": []}, {}),
        ({"seed": 7}, {"seed": 7}),
        ({"seed": -1}, {}),
        ({"repeat_penalty": 1.1}, {"repetition_penalty": 1.1}),
        (
            {"presence_penalty": 0.5, "frequency_penalty": 0.25},
            {"presence_penalty": 0.5, "frequency_penalty": 0.25},
        ),
        ({"temperature": None}, {}),
        # load-time and legacy options: accepted and ignored
        ({"num_ctx": 4096, "num_gpu": 1, "use_mmap": True, "mirostat": 2, "typical_p": 0.9, "tfs_z": 1}, {}),
        ({"num_thread": 8, "numa": False, "low_vram": False, "f16_kv": True, "penalize_newline": True}, {}),
        ({"some_future_option": "x"}, {}),
    ],
)
def test_options_map_onto_openai_fields(options: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert to_openai_sampling(parse_options(options), extensions=True) == expected


def test_non_openai_samplers_go_only_to_an_upstream_with_extensions() -> None:
    sampling = parse_options({"top_k": 40, "min_p": 0.1, "repeat_penalty": 1.2, "temperature": 0.5,
                              "ignore_eos": True})
    assert to_openai_sampling(sampling, extensions=False) == {"temperature": 0.5}
    assert to_openai_sampling(sampling, extensions=True)["ignore_eos"] is True


def test_ignore_eos_must_be_a_boolean() -> None:
    with pytest.raises(InvalidRequestError):
        parse_options({"ignore_eos": "yes"})


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_k": 4.5}, "top_k"),
        ({"top_k": "40"}, "top_k"),
        ({"num_predict": [1]}, "num_predict"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", 1]}, "stop"),
        ({"seed": False}, "seed"),
        ({"use_mmap": "yes"}, "use_mmap"),
        ({"num_ctx": "4096"}, "num_ctx"),
        ({"mirostat_eta": {}}, "mirostat_eta"),
    ],
)
def test_a_wrong_option_type_is_rejected_naming_the_option(options: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidRequestError, match=f'option "{option}"') as caught:
        parse_options(options)
    assert caught.value.param == f"options.{option}"


def test_num_ctx_is_kept_as_the_context_budget() -> None:
    assert parse_options({"num_ctx": 2048}).num_ctx == 2048
    assert parse_options({"num_ctx": 0}).num_ctx is None
    assert parse_options({}) == Sampling()


def test_ignored_options_are_reported_for_the_log() -> None:
    assert ignored_options({"temperature": 1, "num_gpu": 1, "mystery": 2}) == ["mystery", "num_gpu"]
