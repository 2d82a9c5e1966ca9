"""The derived models are what they claim to be, checked with the real mistral.rs engine."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mistralrs import Architecture, ChatCompletionRequest, LoraAdapter, Runner, Which
from safetensors import safe_open

from derive_models import STAMP_FILE, DerivedModels, build_lora, ensure_derived, write_toml_selector

FRANCE = "What is the capital of France?"


def greedy(runner: Any, question: str, *, adapter: str | None = None, max_tokens: int = 24) -> str:
    request = ChatCompletionRequest(
        model="default", messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
        temperature=0.0, adapter=adapter,
    )
    return str(runner.send_chat_completion_request(request).choices[0].message.content)


@pytest.fixture(scope="module")
def gguf_runner(derived_models: DerivedModels) -> Iterator[Any]:
    path = derived_models.gguf
    which: Any = Which.GGUF(quantized_model_id=str(path.parent), quantized_filename=path.name)
    yield Runner(which=which, token_source="none")


@pytest.fixture(scope="module")
def plain_runner(derived_models: DerivedModels) -> Iterator[Any]:
    which: Any = Which.Plain(model_id=str(derived_models.plain), arch=Architecture.Llama)
    yield Runner(which=which, token_source="none")


@pytest.fixture(scope="module")
def lora_runner(derived_models: DerivedModels) -> Iterator[Any]:
    which: Any = Which.Lora(model_id=str(derived_models.plain), arch=Architecture.Llama,
                       adapters=[LoraAdapter("random", str(derived_models.lora))])
    yield Runner(which=which, token_source="none")


def test_plain_folder_has_the_hugging_face_layout(derived_models: DerivedModels) -> None:
    plain = derived_models.plain
    config = json.loads((plain / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_key_value_heads"]) == (576, 30, 3)
    assert config["rope_theta"] == 100000.0 and config["max_position_embeddings"] == 8192
    assert config["rms_norm_eps"] == 1e-5
    tokenizer_config = json.loads((plain / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tokenizer_config["chat_template"]
    assert (tokenizer_config["bos_token"], tokenizer_config["eos_token"]) == ("<|im_start|>", "<|im_end|>")
    assert json.loads((plain / "generation_config.json").read_text())["eos_token_id"] == 2
    with safe_open(str(plain / "model.safetensors"), framework="numpy") as weights:
        names = set(weights.keys())
        assert weights.get_slice("model.layers.0.self_attn.k_proj.weight").get_shape() == [192, 576]
    assert "lm_head.weight" in names and len(names) == 2 + 1 + 30 * 9  # embed, norm, head, 9 per layer


def test_plain_model_tokenizes_exactly_like_the_gguf(gguf_runner: Any, plain_runner: Any) -> None:
    for text in ["Hello world! 12345 café  naïve\n\n  x", "<|im_start|>user\nHi<|im_end|>", "\t\tend  "]:
        assert plain_runner.tokenize_text(text, False, None) == gguf_runner.tokenize_text(text, False, None)


def test_plain_model_answers_paris_under_greedy_decoding(plain_runner: Any) -> None:
    # Proves the dequantisation and the RoPE un-permutation: the Q4_1 GGUF itself rambles in French here.
    assert "Paris" in greedy(plain_runner, FRANCE)


def test_lora_adapter_changes_greedy_output_and_base_stays_intact(lora_runner: Any) -> None:
    base = greedy(lora_runner, FRANCE)
    adapted = greedy(lora_runner, FRANCE, adapter="random", max_tokens=12)
    assert "Paris" in base
    assert adapted and adapted != base


def test_lora_adapter_follows_peft_layout(derived_models: DerivedModels) -> None:
    config = json.loads((derived_models.lora / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["target_modules"]) == ("LORA", 8, ["q_proj", "v_proj"])
    assert (derived_models.lora.parent / config["base_model_name_or_path"]).resolve() == derived_models.plain
    with safe_open(str(derived_models.lora / "adapter_model.safetensors"), framework="numpy") as weights:
        a = weights.get_slice("base_model.model.model.layers.29.self_attn.v_proj.lora_A.weight").get_shape()
        b = weights.get_slice("base_model.model.model.layers.29.self_attn.v_proj.lora_B.weight").get_shape()
    assert (a, b) == ([8, 576], [192, 8])


def test_xlora_folder_is_flat_and_names_each_adapter_file_once(derived_models: DerivedModels) -> None:
    ordering = json.loads(derived_models.xlora_ordering.read_text())
    xlora_config = json.loads((derived_models.xlora / "xlora_config.json").read_text())
    assert ordering["base_model_id"] == xlora_config["base_model_id"] == str(derived_models.plain)
    assert sorted(ordering["layers"].values()) == list(range(60))
    files = [p.name for p in derived_models.xlora.iterdir()]
    for adapter in ordering["order"]:
        # mistral.rs assigns every file whose name contains the adapter name to that adapter.
        named = sorted(f for f in files if adapter in f)
        assert named == [f"{adapter}.safetensors", f"{adapter}_config.json"]
    assert all(p.is_file() for p in derived_models.xlora.iterdir())


def test_ensure_derived_reuses_what_it_built(derived_models: DerivedModels) -> None:
    weights = derived_models.plain / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = ensure_derived(derived_models.plain.parent, derived_models.gguf)
    assert again == derived_models
    assert weights.stat().st_mtime_ns == before


def test_build_lora_rebuilds_when_its_recipe_changes(derived_models: DerivedModels, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    build_lora(derived_models.plain, out, seed=0)
    first = (out / "adapter_model.safetensors").read_bytes()
    assert build_lora(derived_models.plain, out, seed=0) == out
    assert (out / "adapter_model.safetensors").read_bytes() == first
    build_lora(derived_models.plain, out, seed=1)
    assert (out / "adapter_model.safetensors").read_bytes() != first
    assert json.loads((out / STAMP_FILE).read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no temporary folders left behind


def test_write_toml_selector_writes_mistralrs_format(tmp_path: Path) -> None:
    path = write_toml_selector(tmp_path / "sel.toml", "lora", tokenizer_json="tok/tokenizer.json",
                               model_id="plain", adapters=[{"alias": "a", "source": "lora"}], arch="llama")
    assert tomllib.loads(path.read_text()) == {
        "tokenizer_json": "tok/tokenizer.json",
        "model": {"kind": "lora", "model_id": "plain", "arch": "llama",
                  "adapters": [{"alias": "a", "source": "lora"}]},
    }
