"""Reads what a model is from its own files: GGUF metadata (with the `gguf` package) or a plain folder's
config.json. Never loads weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from frontier.errors import ModelLoadError
from frontier.models.gguf_header import HeaderError, read_header

# GGUF quantization types whose candle CPU kernels have SIMD paths in the mistral.rs 0.9.5 build
# (Q4_1 and the Q5 legacy types run scalar and are ~3x slower than Q8_0; engine notes).
SIMD_GGUF_TYPES = frozenset({"F32", "F16", "BF16", "Q4_0", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"})


@dataclass(slots=True)
class ModelMeta:
    format: str  # gguf | safetensors
    architecture: str = ""
    parameter_count: int = 0
    quantization: str = ""  # e.g. Q4_1, Q4_K_M, F32
    context_length: int = 0
    chat_template: str = ""
    size_bytes: int = 0
    data_end: int = 0  # GGUF: the byte where the last tensor's data ends (> size_bytes means truncated)
    vocab_size: int = 0  # tokens the model knows (0: not recorded)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def quant_kernel(self) -> str:
        """The tensor type the matmuls run in: Q4_K_M -> Q4_K."""
        q = self.quantization.upper()
        for suffix in ("_S", "_M", "_L"):
            if q.endswith(suffix) and "_K" in q:
                return q[: -len(suffix)]
        return q

    @property
    def has_simd_kernel(self) -> bool:
        return self.format != "gguf" or self.quant_kernel in SIMD_GGUF_TYPES


def read_gguf(path: Path) -> ModelMeta:
    try:
        header = read_header(path)
    except (HeaderError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path.name}: not a readable GGUF file ({exc})") from exc
    fields = header.fields
    arch = str(fields.get("general.architecture") or "")
    ftype = fields.get("general.file_type")
    try:
        quant = gguf.LlamaFileType(int(ftype)).name.removeprefix("MOSTLY_") if ftype is not None else ""
    except ValueError:
        quant = str(ftype)
    return ModelMeta(
        format="gguf",
        architecture=arch,
        parameter_count=sum(t.n_elements for t in header.tensors),
        quantization=quant,
        context_length=int(fields.get(f"{arch}.context_length") or 0),
        chat_template=str(fields.get("tokenizer.chat_template") or ""),
        size_bytes=path.stat().st_size,
        data_end=max((t.offset + t.n_bytes for t in header.tensors), default=0),
        vocab_size=int(fields.get(f"{arch}.vocab_size") or fields.get("tokenizer.ggml.tokens") or 0),
        extra={
            k: fields[k]
            for k in (f"{arch}.embedding_length", f"{arch}.block_count", f"{arch}.attention.head_count")
            if k in fields
        },
    )


def read_plain(folder: Path) -> ModelMeta:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder}: config.json is missing")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{config_path}: invalid JSON ({exc})") from exc
    template = ""
    tok_cfg = folder / "tokenizer_config.json"
    if tok_cfg.is_file():
        template = str(json.loads(tok_cfg.read_text()).get("chat_template") or "")
    weights = list(folder.glob("*.safetensors"))
    return ModelMeta(
        format="safetensors",
        architecture=str(config.get("model_type", "")),
        parameter_count=_count_safetensors(weights),
        quantization=str(config.get("torch_dtype") or config.get("dtype") or "").upper().replace("FLOAT", "F"),
        context_length=int(config.get("max_position_embeddings") or 0),
        chat_template=template,
        size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        vocab_size=int(config.get("vocab_size") or 0),
        extra={k: config[k] for k in ("hidden_size", "num_hidden_layers") if k in config},
    )


def _count_safetensors(files: list[Path]) -> int:
    total = 0
    for path in files:
        with path.open("rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
            total += count
    return total


def read_meta(path: Path) -> ModelMeta:
    if path.is_file() and path.suffix == ".gguf":
        return read_gguf(path)
    if path.is_dir() and (path / "config.json").is_file():
        return read_plain(path)
    if path.is_file():
        return ModelMeta(format=path.suffix.lstrip("."), size_bytes=path.stat().st_size)
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return ModelMeta(format="folder", size_bytes=size)
    raise ModelLoadError(f"{path}: no such model file or folder")
