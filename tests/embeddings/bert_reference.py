"""A numpy forward pass of a sentence-transformers BERT model straight from its safetensors: embeddings, the
encoder layers (exact-erf GELU), mean pooling, L2 normalisation. The independent check of what llama.cpp
computes from the GGUF Frontier writes (models/bert_gguf.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


class NumpyBert:
    def __init__(self, folder: Path) -> None:
        self.cfg = json.loads((folder / "config.json").read_text())
        self.w = {k.removeprefix("bert."): v.astype(np.float32)
                  for k, v in load_file(str(folder / "model.safetensors")).items() if v.dtype != np.int64}
        self.vocab: dict[str, int] = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def embed(self, ids: list[int]) -> np.ndarray:
        w, eps, heads, t = self.w, self.cfg["layer_norm_eps"], self.cfg["num_attention_heads"], len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        size = x.shape[-1] // heads
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + f"attention.self.{n}").reshape(t, heads, size).transpose(1, 0, 2)
                       for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = ((s / s.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(t, -1)
            x = _norm(x + self._lin(a, p + "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                      w[p + "attention.output.LayerNorm.bias"], eps)
            h = self._lin(x, p + "intermediate.dense")
            h = (0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))).astype(np.float32)
            x = _norm(x + self._lin(h, p + "output.dense"), w[p + "output.LayerNorm.weight"],
                      w[p + "output.LayerNorm.bias"], eps)
        pooled = x.mean(0)
        return np.asarray(pooled / np.linalg.norm(pooled))

    def ids(self, words: list[str]) -> list[int]:
        """[CLS] words [SEP], for words that are whole tokens of the vocabulary."""
        return [self.vocab["[CLS]"], *(self.vocab[w] for w in words), self.vocab["[SEP]"]]
