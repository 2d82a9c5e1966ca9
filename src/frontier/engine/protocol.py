"""The one Engine protocol every backend implements, and the plain dataclasses that cross it.

The HTTP layers speak only these types, so a second engine (llama.cpp) or a test double slots in without
touching them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "tool_calls", "error"]


@dataclass(slots=True)
class SamplingParams:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    n: int = 1
    ignore_eos: bool = False  # generate exactly max_tokens (benchmarks, tests)
    logit_bias: dict[int, float] = field(default_factory=dict)  # token id -> bias added to its logit

    def bias_outside(self, vocab: int) -> int | None:
        """A logit_bias token the model does not have (engines refuse it: a bias nothing can apply)."""
        return next((t for t in self.logit_bias if t >= vocab), None) if vocab > 0 else None


@dataclass(slots=True)
class Grammar:
    """Constrained output. kind: json_schema | regex | lark."""

    kind: str
    value: str


@dataclass(slots=True)
class GenerationRequest:
    """Either chat `messages` (OpenAI message dicts) or a raw, already-templated `prompt`."""

    model: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none"] | None = None
    grammar: Grammar | None = None
    adapter: str | None = None
    enable_thinking: bool | None = None
    reasoning_effort: str | None = None
    keep_alive: float | None = None  # seconds the model stays loaded once idle; < 0 forever; None unchanged
    suffix: str | None = None  # with `prompt`: fill in the middle (only engines of models with "insert" take it)
    # The caller collects the whole answer before sending any of it (a non-streamed request): an engine that
    # loses its worker mid-way may start the answer again elsewhere, nobody has seen a part of it.
    whole: bool = False


@dataclass(slots=True)
class EmbeddingRequest:
    """Texts (or already-tokenized inputs) to embed, each into one vector."""

    model: str
    inputs: list[str] | list[list[int]]
    truncate: bool = False  # cut an input to the model's context instead of refusing it (Ollama's default)
    keep_alive: float | None = None


@dataclass(slots=True)
class Embeddings:
    vectors: list[list[float]]  # L2-normalised, one per input, in order
    prompt_tokens: int = 0


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI carries it
    index: int = 0


@dataclass(slots=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: list[int] | None
    top: list[tuple[str, float, list[int] | None]] = field(default_factory=list)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_seconds: float = 0.0
    completion_seconds: float = 0.0
    cached_tokens: int = 0  # prompt tokens whose KV came from the prefix cache (not prefilled again)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_choice(self, part: Usage) -> None:
        """Adds one choice's usage to a request's (n > 1): the prompt is shared, completions add up, the
        choices ran side by side (the longest time counts)."""
        self.prompt_tokens = part.prompt_tokens
        self.cached_tokens = max(self.cached_tokens, part.cached_tokens)
        self.prompt_seconds = max(self.prompt_seconds, part.prompt_seconds)
        self.completion_tokens += part.completion_tokens
        self.completion_seconds = max(self.completion_seconds, part.completion_seconds)


@dataclass(slots=True)
class Delta:
    """One step of a generation for one choice. The last delta of each choice has finish_reason set;
    usage arrives once, on the very last delta of the whole request."""

    index: int = 0
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    stop_sequence: str | None = None  # with finish_reason "stop": the stop string that ended it, where known


@dataclass(slots=True)
class ModelInfo:
    id: str
    created: int
    owned_by: str = "frontier"
    context_length: int = 0
    architecture: str = ""
    model_type: str = ""
    quantization: str = ""
    parameter_count: int = 0
    path: str = ""
    chat_template: str = ""
    size_bytes: int = 0
    capabilities: list[str] = field(default_factory=list)
    loaded: bool = False
    loaded_at: float | None = None  # unix time
    load_seconds: float = 0.0  # how long loading took
    expires_at: float | None = None  # unix time an idle model unloads; None = kept until evicted
    alias_of: str | None = None
    engine: str = ""  # the engine serving it once loaded: mistralrs | llamacpp


@dataclass(slots=True)
class EngineHealth:
    ok: bool
    reason: str = ""
    device: str = "cpu"
    in_flight: int = 0
    queued: int = 0
    cpu_threads: int = 0  # threads the CPU decodes use now (0: not a CPU engine, or it does not say)


@runtime_checkable
class Engine(Protocol):
    """An inference backend. Implementations are safe to call from many asyncio tasks at once."""

    name: str

    async def load(self) -> None: ...

    def models(self) -> list[ModelInfo]: ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        """Streams deltas. Closing the iterator (client gone) stops the generation and frees its slot."""
        ...

    async def tokenize(self, model: str, text: str) -> list[int]: ...

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """One vector per input; InvalidRequestError where the model does not embed."""
        ...

    async def health(self) -> EngineHealth: ...

    async def close(self) -> None: ...
