"""Sentence embeddings on llama.cpp: a context with pooling, where each input is one sequence of a batch and
llama.cpp pools its token vectors (mean for BERT sentence models, as their GGUF says). An encoder keeps no KV
cache: every encode stands alone, so this needs none of the generation scheduler. A chat (causal) model embeds
too, as in Ollama: its inputs are decoded with mean pooling and the cache cleared after each batch.
"""

from __future__ import annotations

import ctypes
import math

from frontier.engine.llamacpp.native import Model
from frontier.errors import ContextLengthError, ModelLoadError


class EmbedContext:
    def __init__(self, model: Model, *, n_ctx: int, n_seq: int, n_threads: int, causal: bool = False) -> None:
        lib = self.lib = model.lib
        self.model = model
        params = lib.llama_context_default_params()
        # An encoder sees a whole sequence in one micro-batch: batch = micro-batch = context.
        params.n_ctx = params.n_batch = params.n_ubatch = n_ctx
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = n_threads
        params.embeddings = True
        params.no_perf = True
        self.causal = causal
        if causal:  # a chat model's GGUF names no pooling: mean over the input's tokens
            params.pooling_type = lib.LLAMA_POOLING_TYPE_MEAN
        self.ptr = lib.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise ModelLoadError(f"llama.cpp could not create an embedding context of {n_ctx} tokens")
        # The limit is the micro-batch, not llama_n_ctx (which llama.cpp may round up, to 4096 for a 512-token
        # BERT): a batch past n_ubatch aborts the process (GGML_ASSERT "encoder requires n_ubatch >= n_tokens").
        self.n_ctx, self.n_seq = n_ctx, n_seq
        self.n_embd = int(lib.llama_model_n_embd(model.ptr))
        self.batch = lib.llama_batch_init(self.n_ctx, 0, 1)

    def fit(self, tokens: list[int], truncate: bool, index: int) -> list[int]:
        """The input as encoded: cut to the context (keeping its closing [SEP]) or refused."""
        if len(tokens) <= self.n_ctx:
            return tokens
        if not truncate:
            raise ContextLengthError(
                f"input[{index}] has {len(tokens)} tokens; this model embeds at most {self.n_ctx}",
                param="input", prompt_tokens=len(tokens), limit=self.n_ctx)
        return tokens[: self.n_ctx - 1] + tokens[-1:]

    def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        """L2-normalised vectors, packing as many inputs per encode as the context and n_seq allow."""
        out: list[list[float]] = []
        raw, lib = self.batch, self.lib
        i = 0
        while i < len(inputs):
            n, group = 0, 0
            while i < len(inputs) and group < self.n_seq and (group == 0 or n + len(inputs[i]) <= self.n_ctx):
                for pos, token in enumerate(inputs[i]):
                    raw.token[n], raw.pos[n], raw.n_seq_id[n] = token, pos, 1
                    raw.seq_id[n][0] = group
                    raw.logits[n] = True
                    n += 1
                group += 1
                i += 1
            raw.n_tokens = n
            if self.causal:
                status = lib.llama_decode(self.ptr, raw)
                lib.llama_memory_clear(lib.llama_get_memory(self.ptr), True)
            else:
                status = lib.llama_encode(self.ptr, raw)
            if status != 0:
                raise RuntimeError(f"llama.cpp could not embed this batch (status {status})")
            for seq in range(group):
                ptr = lib.llama_get_embeddings_seq(self.ptr, seq)
                vector = list(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float))[: self.n_embd])
                norm = math.sqrt(sum(x * x for x in vector)) or 1.0
                out.append([x / norm for x in vector])
        return out

    def close(self) -> None:
        if self.ptr:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ptr)
            self.ptr = None
