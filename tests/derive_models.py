"""Builds every model type Frontier serves from one GGUF file, for the tests (the hubs are out of reach here).

From the default GGUF this derives a plain Hugging Face folder (dequantised weights, config, tokenizer),
a random PEFT LoRA adapter on it, an X-LoRA model on it and a mistral.rs TOML selector. Only `gguf`, `numpy`
and `safetensors` are needed. Each builder writes into a temporary sibling folder and renames it into place,
so a folder that exists is complete; a stamp file inside records what it was built from, and a changed stamp
rebuilds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file

from frontier.errors import ModelLoadError

BUILDER_VERSION = 2
STAMP_FILE = "frontier-derived.json"
ORDERING_FILE = "ordering.json"

_LAYER_TENSORS = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_TENSORS = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_CONTROL_TOKEN = 3
_USER_DEFINED_TOKEN = 4


@dataclass(frozen=True, slots=True)
class DerivedModels:
    gguf: Path
    plain: Path
    lora: Path
    xlora: Path
    xlora_ordering: Path
    toml: Path


def ensure_derived(cache_dir: Path, gguf_path: Path) -> DerivedModels:
    """Builds (once) and returns every derived model under `cache_dir`."""
    cache_dir = Path(cache_dir).resolve()
    gguf_path = Path(gguf_path).resolve()
    plain = build_plain(gguf_path, cache_dir / "plain")
    lora = build_lora(plain, cache_dir / "lora")
    xlora = build_xlora(plain, cache_dir / "xlora")
    toml = write_toml_selector(
        cache_dir / "gguf.toml",
        "gguf",
        quantized_model_id=os.path.relpath(gguf_path.parent, cache_dir),
        quantized_filename=gguf_path.name,
    )
    return DerivedModels(gguf_path, plain, lora, xlora, xlora / ORDERING_FILE, toml)


def build_plain(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantises a llama-architecture GGUF into a plain HF folder (F32 safetensors, BPE tokenizer.json)."""
    gguf_path = Path(gguf_path)
    stamp = {"kind": "plain", "source": gguf_path.name, "source_bytes": gguf_path.stat().st_size}
    return _cached(Path(out_dir), stamp, lambda tmp: _write_plain(GGUFReader(gguf_path), tmp))


def build_lora(
    base_plain_dir: Path, out_dir: Path, *, rank: int = 8, std: float = 0.6, seed: int = 0
) -> Path:
    """A random PEFT LoRA adapter on q_proj/v_proj; std 0.6 changes greedy output visibly (0.05 does not)."""
    out_dir = Path(out_dir)
    base = os.path.relpath(Path(base_plain_dir).resolve(), out_dir.resolve().parent)
    stamp = {"kind": "lora", "base": base, "rank": rank, "std": std, "seed": seed}
    config = _read_config(Path(base_plain_dir))

    def build(tmp: Path) -> None:
        _write_json(tmp / "adapter_config.json", _lora_config(rank, base))
        weights = _lora_weights(config, rank, std, np.random.default_rng(seed))
        save_file(weights, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})

    return _cached(out_dir, stamp, build)


def build_xlora(
    base_plain_dir: Path,
    out_dir: Path,
    *,
    adapters: Sequence[str] = ("expert_a", "expert_b"),
    rank: int = 8,
    std: float = 0.6,
    seed: int = 1,
) -> Path:
    """An X-LoRA model folder with its ordering file (`ordering.json`) inside.

    mistral.rs lists the X-LoRA folder non-recursively and assigns every file whose name contains an adapter
    name to that adapter (`.safetensors` = weights, anything else = its LoRA config), so the layout is flat
    and no other file name may contain an adapter name. It compares the ordering's and xlora_config's
    `base_model_id` literally with the base model id it is given, so both hold the base's absolute path.
    """
    base = str(Path(base_plain_dir).resolve())
    stamp = {"kind": "xlora", "base": base, "adapters": list(adapters), "rank": rank, "std": std,
             "seed": seed}
    config = _read_config(Path(base_plain_dir))
    n_layers, hidden = int(config["num_hidden_layers"]), int(config["hidden_size"])

    def build(tmp: Path) -> None:
        rng = np.random.default_rng(seed)
        for name in adapters:
            _write_json(tmp / f"{name}_config.json", _lora_config(rank, base))
            weights = _lora_weights(config, rank, std, rng)
            save_file(weights, str(tmp / f"{name}.safetensors"), metadata={"format": "pt"})
        classifier = {
            "last.weight": rng.normal(0.0, 0.02, (len(adapters), hidden)).astype(np.float32),
            "last.bias": np.zeros(len(adapters), dtype=np.float32),
        }
        save_file(classifier, str(tmp / "xlora_classifier.safetensors"), metadata={"format": "pt"})
        _write_json(tmp / "xlora_config.json", {
            "base_model_id": base,
            "hidden_size": hidden,
            "adapters": {name: name for name in adapters},
            "xlora_depth": 1,
            "layerwise_scalings": False,
            "enable_softmax": True,
            "softmax_temperature": 1.0,
            "scaling_pass_value": 0.0,
            "use_bias": True,
            "global_scaling_weight": 1.0,
            "top_k_lora": None,
            "enable_softmax_topk": False,
        })
        # Scalings are indexed per LoRA layer, in the order mistral.rs builds them: q_proj, v_proj per block.
        layers = {f"model.layers.{i}.self_attn.{proj}": 2 * i + j
                  for i in range(n_layers) for j, proj in enumerate(("q_proj", "v_proj"))}
        _write_json(tmp / ORDERING_FILE, {"base_model_id": base, "order": list(adapters), "layers": layers})

    return _cached(Path(out_dir), stamp, build)


def write_toml_selector(
    path: Path,
    kind: str | None,
    *,
    tokenizer_json: str | None = None,
    adapters: Sequence[Mapping[str, str]] = (),
    **fields: object,
) -> Path:
    """Writes a mistral.rs TOML selector: top-level `tokenizer_json`, `[model]` with `kind` and the `Which`
    keyword fields, and `[[model.adapters]]` tables (alias, source, revision) for `kind = "lora"`.
    Without `kind`, mistral.rs infers it from the fields."""
    model: dict[str, Any] = {"kind": kind} if kind else {}
    model.update({k: v for k, v in fields.items() if v is not None})
    if adapters:
        model["adapters"] = [dict(a) for a in adapters]
    document: dict[str, Any] = {"tokenizer_json": tokenizer_json} if tokenizer_json else {}
    document["model"] = model
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(document)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def _cached(out_dir: Path, stamp: dict[str, Any], build: Callable[[Path], None]) -> Path:
    stamp = {"builder_version": BUILDER_VERSION, **stamp}
    if _stamp_of(out_dir) == stamp:
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        build(tmp)
        _write_json(tmp / STAMP_FILE, stamp)
        # mkdtemp and safetensors create owner-only entries; a model cache is meant to be shared.
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
        # Several processes (test workers, a server) may build at once: whoever renames first wins, and
        # a finished folder with the wanted stamp is never replaced.
        if _stamp_of(out_dir) == stamp:
            return out_dir
        if out_dir.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.stale-", dir=out_dir.parent))
            with contextlib.suppress(FileNotFoundError):
                out_dir.rename(stale / out_dir.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(out_dir)
        except OSError:
            if _stamp_of(out_dir) != stamp:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _stamp_of(folder: Path) -> dict[str, Any] | None:
    try:
        stamp: dict[str, Any] = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
        return stamp
    except (OSError, ValueError):
        return None


def _write_plain(reader: GGUFReader, out: Path) -> None:
    meta = _gguf_metadata(reader)
    if meta.get("general.architecture") != "llama":
        arch = meta.get("general.architecture")
        raise ModelLoadError(f"cannot derive a plain model: GGUF architecture {arch!r} is not 'llama'")
    n_head, n_kv = int(meta["llama.attention.head_count"]), int(meta["llama.attention.head_count_kv"])
    tensors: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        name = _hf_tensor_name(tensor.name)
        if name is None:
            continue
        weight = np.ascontiguousarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        if name.endswith("q_proj.weight"):
            weight = _unpermute_rope(weight, n_head)
        elif name.endswith("k_proj.weight"):
            weight = _unpermute_rope(weight, n_kv)
        tensors[name] = weight
    # The GGUF ties lm_head to the embeddings. mistral.rs's X-LoRA llama reads `lm_head.weight` whatever
    # `tie_word_embeddings` says ("cannot find tensor lm_head.weight"), so write the head out, untied.
    tensors.setdefault("lm_head.weight", tensors["model.embed_tokens.weight"])
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    config = _llama_config(meta, vocab=len(tokens))
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", config)
    _write_json(out / "tokenizer.json", _tokenizer_json(meta))
    special = {k: tokens[int(meta[f"tokenizer.ggml.{k}_token_id"])]
               for k in ("bos", "eos", "unknown", "padding") if f"tokenizer.ggml.{k}_token_id" in meta}
    _write_json(out / "tokenizer_config.json", {
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "bos_token": special.get("bos"),
        "eos_token": special.get("eos"),
        "unk_token": special.get("unknown"),
        "pad_token": special.get("padding"),
        "chat_template": meta.get("tokenizer.chat_template"),
        "model_max_length": config["max_position_embeddings"],
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "GPT2Tokenizer",
    })
    _write_json(out / "generation_config.json", {
        k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if config.get(k) is not None
    })


def _gguf_metadata(reader: GGUFReader) -> dict[str, Any]:
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def _hf_tensor_name(gguf_name: str) -> str | None:
    parts = gguf_name.split(".")
    if parts[0] == "blk" and len(parts) == 4 and parts[2] in _LAYER_TENSORS:
        return f"model.layers.{parts[1]}.{_LAYER_TENSORS[parts[2]]}.{parts[3]}"
    if len(parts) == 2 and parts[0] in _GLOBAL_TENSORS:
        return f"{_GLOBAL_TENSORS[parts[0]]}.{parts[1]}"
    return None  # e.g. rope_freqs: recomputed by the engine from config.json


def _unpermute_rope(weight: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's converter interleaves each head's rotary halves (HF: [x0..x31, y0..y31] -> GGUF:
    # [x0, y0, x1, y1, ...]) so its RoPE kernel can rotate adjacent pairs; undo that to get HF layout.
    rows = weight.shape[0]
    return (weight.reshape(n_head, rows // n_head // 2, 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _llama_config(meta: Mapping[str, Any], *, vocab: int) -> dict[str, Any]:
    hidden, n_head = int(meta["llama.embedding_length"]), int(meta["llama.attention.head_count"])
    token_id = {k: int(meta[key]) if (key := f"tokenizer.ggml.{k}_token_id") in meta else None
                for k in ("bos", "eos", "padding")}
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta["llama.feed_forward_length"]),
        "num_hidden_layers": int(meta["llama.block_count"]),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(meta.get("llama.attention.head_count_kv", n_head)),
        "head_dim": int(meta.get("llama.rope.dimension_count", hidden // n_head)),
        "hidden_act": "silu",
        "max_position_embeddings": int(meta["llama.context_length"]),
        # GGUF stores eps as float32 (1e-5 reads back as 9.9999997e-06); write the value it was made with.
        "rms_norm_eps": float(f"{float(meta['llama.attention.layer_norm_rms_epsilon']):.6g}"),
        "rope_theta": float(meta.get("llama.rope.freq_base", 10000.0)),
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "vocab_size": int(meta.get("llama.vocab_size", vocab)),
        "bos_token_id": token_id["bos"],
        "eos_token_id": token_id["eos"],
        "pad_token_id": token_id["padding"],
        "torch_dtype": "float32",
    }


def _tokenizer_json(meta: Mapping[str, Any]) -> dict[str, Any]:
    if meta.get("tokenizer.ggml.model") != "gpt2":
        model = meta.get("tokenizer.ggml.model")
        raise ModelLoadError(f"cannot derive tokenizer.json: tokenizer model {model!r} is not byte-level BPE")
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    types: list[int] = list(meta.get("tokenizer.ggml.token_type", [1] * len(tokens)))
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    pre: dict[str, Any] = byte_level
    if meta.get("tokenizer.ggml.pre") == "smollm":  # llama.cpp's smollm pre-tokenizer splits digits singly
        digits = {"type": "Digits", "individual_digits": True}
        pre = {"type": "Sequence", "pretokenizers": [digits, byte_level]}
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": kind != _CONTROL_TOKEN, "special": kind == _CONTROL_TOKEN}
        for i, (tok, kind) in enumerate(zip(tokens, types, strict=True))
        if kind in (_CONTROL_TOKEN, _USER_DEFINED_TOKEN)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre,
        "post_processor": {**byte_level, "trim_offsets": False},
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": list(meta.get("tokenizer.ggml.merges", [])),
        },
    }


def _read_config(plain_dir: Path) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads((plain_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"base model {plain_dir}: cannot read config.json ({exc})") from exc
    return config


def _lora_config(rank: int, base: str) -> dict[str, Any]:
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base,
        "r": rank, "lora_alpha": rank, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "target_modules": ["q_proj", "v_proj"], "inference_mode": True,
    }


def _lora_weights(
    config: Mapping[str, Any], rank: int, std: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    hidden, n_head = int(config["hidden_size"]), int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    out_dims = {"q_proj": n_head * head_dim, "v_proj": int(config["num_key_value_heads"]) * head_dim}
    weights = {}
    for i in range(int(config["num_hidden_layers"])):
        for proj, out_dim in out_dims.items():
            prefix = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            weights[f"{prefix}.lora_A.weight"] = rng.normal(0.0, std, (rank, hidden)).astype(np.float32)
            weights[f"{prefix}.lora_B.weight"] = rng.normal(0.0, std, (out_dim, rank)).astype(np.float32)
    return weights


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
