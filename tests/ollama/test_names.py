"""Ollama name normalisation and the name <-> upstream id map, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontier.errors import ConfigError
from frontier.ollama.names import ModelMap, derive_name, normalise

SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mistral", "mistral:latest"),
        ("Mistral:Latest", "mistral:latest"),
        ("library/mistral", "mistral:latest"),
        ("registry.ollama.ai/library/mistral:7b", "mistral:7b"),
        ("  mixtral:8x7b ", "mixtral:8x7b"),
        ("me/mymodel", "me/mymodel:latest"),
        ("localhost:5000/me/m", "localhost:5000/me/m:latest"),
        ("smollm2:", "smollm2:latest"),
        ("smollm2@sha256:abc", "smollm2:latest"),
    ],
)
def test_normalise_follows_ollama_name_rules(name: str, expected: str) -> None:
    assert normalise(name) == expected


@pytest.mark.parametrize(
    ("upstream_id", "expected"),
    [
        (SMOL, "smollm2-135m-instruct.q4_1:latest"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "huggingfacetb/smollm2-135m-instruct:latest"),
        ("gpt 4o (preview)", "gpt-4o-preview:latest"),
        ("llama3:8b", "llama3:8b"),
        ("model.safetensors", "model:latest"),
    ],
)
def test_derive_name_gives_a_valid_ollama_name(upstream_id: str, expected: str) -> None:
    assert derive_name(upstream_id) == expected


DEFAULTS = ModelMap.load()


@pytest.mark.parametrize(
    ("name", "served", "expected"),
    [
        ("smollm2:135m", [SMOL], SMOL),
        ("SmolLM2", [SMOL], SMOL),
        ("smollm2:latest", ["smollm2-135m-instruct.q4_1.GGUF"], "smollm2-135m-instruct.q4_1.GGUF"),
        ("smollm2:135m", ["SmolLM2-135M-Instruct.Q4_1"], "SmolLM2-135M-Instruct.Q4_1"),  # extension optional
        ("mistral", ["mistral-7b", SMOL], "mistral-7b"),
        ("mistral:7b", ["Mistral-7B"], "Mistral-7B"),
        ("mixtral:latest", ["mixtral-8x7b"], "mixtral-8x7b"),
        ("mixtral:8x7b", [SMOL], None),  # mapped, but not served
        ("smollm2-135m-instruct.q4_1", [SMOL], SMOL),  # derived name
        (SMOL, [SMOL], SMOL),  # the raw upstream id, any case
        (SMOL.upper(), [SMOL], SMOL),
        ("llama3", [SMOL], None),
        ("smollm2:1.7b", [SMOL], None),
        ("llama3", None, "llama3"),  # upstream lists nothing: pass the name through
        ("mistral", None, "mistral-7b"),
    ],
)
def test_resolve_maps_ollama_names_to_served_ids(name: str, served: list[str] | None, expected: str | None) -> None:
    assert DEFAULTS.resolve(name, served) == expected


def test_defaults_hold_the_issue_entries_and_the_default_model() -> None:
    assert DEFAULTS.entries["mistral:latest"] == "mistral-7b"
    assert DEFAULTS.entries["mistral:7b"] == "mistral-7b"
    assert DEFAULTS.entries["mixtral:latest"] == "mixtral-8x7b"
    assert DEFAULTS.entries["mixtral:8x7b"] == "mixtral-8x7b"
    assert DEFAULTS.entries["smollm2:135m"] == SMOL
    assert DEFAULTS.entries["smollm2:latest"] == SMOL


def test_names_for_lists_mapped_names_else_the_derived_one() -> None:
    assert DEFAULTS.names_for(SMOL) == ["smollm2:135m", "smollm2:latest"]
    assert DEFAULTS.names_for("Qwen2-0.5B.gguf") == ["qwen2-0.5b:latest"]


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("map.yaml", "tiny: SomeModel.gguf\nmistral: other-mistral\n"),
        ("map.yml", "models:\n  tiny: SomeModel.gguf\n  mistral: other-mistral\n"),
        ("map.toml", '"tiny" = "SomeModel.gguf"\n"mistral:latest" = "other-mistral"\n'),
        ("map.toml", '[models]\ntiny = "SomeModel.gguf"\n"mistral:latest" = "other-mistral"\n'),
    ],
)
def test_a_map_file_extends_and_overrides_the_defaults(tmp_path: Path, filename: str, text: str) -> None:
    path = tmp_path / filename
    path.write_text(text)
    model_map = ModelMap.load(path)
    assert model_map.target("tiny:latest") == "SomeModel.gguf"
    assert model_map.target("mistral") == "other-mistral"
    assert model_map.target("mistral:7b") == "mistral-7b"


@pytest.mark.parametrize(
    ("filename", "text"),
    [("bad.yaml", "a: [1, 2"), ("bad.toml", "a = "), ("list.yaml", "- a\n- b\n"), ("num.yaml", "a: 3\n")],
)
def test_a_broken_map_file_is_a_config_error(tmp_path: Path, filename: str, text: str) -> None:
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(ConfigError, match="FRONTIER_MODEL_MAP|model map"):
        ModelMap.load(path)


def test_a_missing_map_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        ModelMap.load(tmp_path / "absent.yaml")
