"""A BERT sentence-embedding model (a Hugging Face BertModel folder, as sentence-transformers ships it) written
as a GGUF that llama.cpp serves with its pooling. Pure Python (numpy, gguf, safetensors): no torch.

It follows llama.cpp's own converter for BertModel (convert_hf_to_gguf.py / conversion/bert.py), which needs
torch and transformers: the same metadata, the WordPiece vocabulary in llama.cpp's "phantom space" form (a word
start gets U+2581, a "##" continuation loses its marks, special tokens stay), 2-D weights in F16 and the rest in
F32. Checked against a numpy forward pass of the original weights: cosine 0.999999 (tests/models).
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from safetensors import safe_open

from frontier.errors import DownloadError

_SPECIAL_DEFAULTS = (("unk", "[UNK]"), ("sep", "[SEP]"), ("pad", "[PAD]"), ("cls", "[CLS]"), ("mask", "[MASK]"),
                     ("bos", "[CLS]"), ("eos", "[SEP]"))
_DROPPED = ("embeddings.position_ids", "pooler.", "cls.predictions", "cls.seq_relationship")


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _pooling(folder: Path) -> gguf.PoolingType | None:
    """From the sentence-transformers Pooling module's config (modules.json names its folder)."""
    for module in _json(folder / "modules.json") or []:
        if str(module.get("type", "")).endswith("Pooling"):
            cfg = _json(folder / module["path"] / "config.json") or {}
            if cfg.get("pooling_mode_mean_tokens"):
                return gguf.PoolingType.MEAN
            if cfg.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if cfg.get("pooling_mode_lasttoken"):
                return gguf.PoolingType.LAST
    return None


def _vocab(folder: Path, size: int) -> tuple[list[str], list[int], dict[str, int]]:
    """(tokens in phantom-space form, token types, token -> id)."""
    tokenizer = _json(folder / "tokenizer.json")
    special: set[str] = set()
    if tokenizer is not None:
        if tokenizer["model"]["type"] != "WordPiece":
            raise ValueError(f"expected a WordPiece tokenizer, found {tokenizer['model']['type']}")
        vocab: dict[str, int] = dict(tokenizer["model"]["vocab"])
        for added in tokenizer.get("added_tokens", []):
            vocab[added["content"]] = added["id"]
            if added.get("special"):
                special.add(added["content"])
    else:
        lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
        vocab = {token: i for i, token in enumerate(lines)}
        for value in (_json(folder / "special_tokens_map.json") or {}).values():
            special.add(value["content"] if isinstance(value, dict) else value)
    by_id = {i: t for t, i in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for i in range(size):
        token = by_id.get(i)
        if token is None:  # a hole in the vocabulary
            tokens.append(f"[PAD{i}]")
            types.append(int(gguf.TokenType.UNUSED))
        elif token in special:
            tokens.append(token)
            types.append(int(gguf.TokenType.CONTROL))
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types, vocab


def _lowercase(folder: Path) -> bool | None:
    normalizer = (_json(folder / "tokenizer.json") or {}).get("normalizer") or {}
    stack, lower = [normalizer], None
    while stack:
        node = stack.pop()
        if node.get("type") == "BertNormalizer":
            lower = node.get("lowercase", lower)
        elif node.get("type") == "Lowercase":
            lower = True
        stack.extend(node.get("normalizers", []))
    return lower


def _tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():  # noqa: SIM118  (safe_open is not a mapping)
                yield name, f.get_tensor(name)


def convert_folder(folder: Path, out: Path, name: str) -> None:
    """Writes the GGUF of the BertModel in `folder` to `out`."""
    hp = _json(folder / "config.json")
    if not hp or hp.get("model_type") != "bert" or hp.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{folder} does not hold a BertModel with absolute positions")
    layers = int(hp["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_name(name)
    writer.add_block_count(layers)
    writer.add_context_length(int(hp["max_position_embeddings"]))
    writer.add_embedding_length(int(hp["hidden_size"]))
    writer.add_feed_forward_length(int(hp["intermediate_size"]))
    writer.add_head_count(int(hp["num_attention_heads"]))
    writer.add_layer_norm_eps(float(hp["layer_norm_eps"]))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_causal_attention(False)
    if (pooling := _pooling(folder)) is not None:
        writer.add_pooling_type(pooling)
    tokens, types, vocab = _vocab(folder, int(hp["vocab_size"]))
    writer.add_token_type_count(int(hp.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")  # llama.cpp's WordPiece vocabulary
    writer.add_tokenizer_pre("default")  # read only for BPE vocabularies
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if (lower := _lowercase(folder)) is not None:
        writer.add_bool("tokenizer.ggml.normalizer.lowercase", bool(lower))
    # gguf warns that it has no GGUF key for BERT's "cls" token: llama.cpp takes [CLS] from bos instead.
    logging.getLogger("gguf.vocab").setLevel(logging.ERROR)
    specials = gguf.SpecialVocab(folder, load_merges=False, n_vocab=len(tokens))
    for kind, text in _SPECIAL_DEFAULTS:  # what a vocab.txt-only folder does not say
        if kind not in specials.special_token_ids and text in vocab:
            specials.special_token_ids[kind] = vocab[text]
    specials.add_to_gguf(writer, quiet=True)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)
    keep_f32 = {gguf.TENSOR_NAMES[t] for t in (gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)}
    for hf_name, data in _tensors(folder):
        hf_name = hf_name.removeprefix("bert.").replace(".gamma", ".weight").replace(".beta", ".bias")
        if hf_name.startswith(_DROPPED):
            continue
        new_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"{folder}: no GGUF name for tensor {hf_name}")
        data = data.astype(np.float32)
        f16 = data.ndim > 1 and new_name.endswith(".weight") and not new_name.endswith("_norm.weight") \
            and new_name.rsplit(".", 1)[0] not in keep_f32
        writer.add_tensor(new_name, np.ascontiguousarray(data.astype(np.float16) if f16 else data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def convert_zip(archive: Path, out: Path, name: str) -> None:
    """`archive`: a zip of the model folder (its files at the top, or in one folder)."""
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".bert-") as tmp:
        root = Path(tmp)
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    target = (root / member.filename).resolve()
                    if not target.is_relative_to(root.resolve()):  # no zip-slip out of the scratch folder
                        raise DownloadError(f"{archive.name}: member {member.filename!r} leaves the archive")
                zf.extractall(root)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{archive.name} is not a valid zip: {exc}") from None
        configs = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise DownloadError(f"{archive.name} holds no model folder (no config.json)")
        try:
            convert_folder(configs[0].parent, out, name)
        except (ValueError, KeyError, OSError) as exc:
            out.unlink(missing_ok=True)
            raise DownloadError(f"{archive.name}: cannot convert to GGUF: {exc}") from None
