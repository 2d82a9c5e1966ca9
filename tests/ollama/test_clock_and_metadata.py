"""Time formats, keep_alive, and the metadata /api/tags, /api/show and /api/ps carry. No server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from frontier.errors import InvalidRequestError
from frontier.ollama import metadata
from frontier.ollama.clock import FOREVER, nanos, now_rfc3339, parse_keep_alive, rfc3339
from frontier.ollama.metadata import UpstreamModel, human_number

FRONTIER_ENTRY = {
    "id": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "object": "model",
    "created": 1738911764,
    "owned_by": "frontier",
    "context_length": 8192,
    "architecture": "llama",
    "quantization": "Q4_1",
    "parameter_count": 134515008,
    "size_bytes": 98362432,
    "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    "capabilities": ["completion", "tools"],
}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (0, 0.0),
        (300, 300.0),
        (2.5, 2.5),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("10s", 10.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("0", 0.0),
        ("120", 120.0),
        (-1, FOREVER),
        ("-1s", FOREVER),
        ("-1m", FOREVER),
    ],
)
def test_keep_alive_accepts_seconds_and_go_durations(value: Any, seconds: float | None) -> None:
    assert parse_keep_alive(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 m", "m5", "5x", ""])
def test_a_bad_keep_alive_is_a_400(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="keep_alive"):
        parse_keep_alive(value)


def test_times_are_rfc3339_utc_with_z() -> None:
    assert rfc3339(datetime(2025, 10, 26, 17, 15, 24, 97767, tzinfo=UTC)) == "2025-10-26T17:15:24.097767Z"
    assert nanos(0) == 1 and nanos(1.5) == 1_500_000_000


def test_the_streamed_lines_clock_is_the_same_format_and_now() -> None:
    before = datetime.now(UTC)
    stamp = now_rfc3339()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), stamp
    assert rfc3339(before) <= stamp <= rfc3339(after)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (134515008, "134.52M"),
        (135_000_000, "135M"),
        (7_000_000_000, "7B"),
        (7_241_732_096, "7.2B"),
        (46_702_792_704, "46.7B"),
        (1500, "2K"),
        (999, "999"),
    ],
)
def test_parameter_counts_read_like_ollamas(count: int, text: str) -> None:
    assert human_number(count) == text


def test_frontier_extension_fields_fill_tags_show_and_ps() -> None:
    model = UpstreamModel.from_openai(FRONTIER_ENTRY)
    assert model.extended and model.supports("tools") and model.supports("thinking") is False
    tag = metadata.tag_entry("smollm2:135m", model)
    assert tag["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "134.52M",
        "quantization_level": "Q4_1",
    }
    assert tag["size"] == 98362432 and len(tag["digest"]) == 64 and tag["modified_at"].startswith("2025-02-07T")
    show = metadata.show_response(model)
    assert show["model_info"]["llama.context_length"] == 8192
    assert show["model_info"]["general.parameter_count"] == 134515008
    assert show["model_info"]["general.file_type"] == 3
    assert show["capabilities"] == ["completion", "tools"]
    assert "tools" in show["template"]  # litellm's test for native tool support
    assert show["template"].endswith(FRONTIER_ENTRY["chat_template"])
    ps = metadata.ps_entry("smollm2:135m", model)
    assert ps["context_length"] == 8192 and ps["expires_at"] > "2200"


def test_a_plain_openai_entry_degrades_to_what_the_id_tells() -> None:
    model = UpstreamModel.from_openai({"id": "Qwen2.5-7B-Instruct-Q4_K_M.gguf", "object": "model"})
    assert not model.extended and model.supports("tools") is None
    assert metadata.details(model)["parameter_size"] == "7B"
    assert metadata.details(model)["quantization_level"] == "Q4_K_M"
    show = metadata.show_response(model)
    assert show["capabilities"] == ["completion"]
    assert show["template"] == ""
    assert not any("context_length" in key for key in show["model_info"])
    assert show["model_info"]["general.file_type"] == 15


def test_template_is_left_alone_when_tools_are_not_claimed() -> None:
    model = UpstreamModel.from_openai(FRONTIER_ENTRY | {"capabilities": ["completion"]})
    assert "tools" not in metadata.show_response(model)["template"]
