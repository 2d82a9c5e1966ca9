"""Which engine serves a model (MISTRAL_ENGINE=auto|mistralrs|llamacpp), and why. Pure given its inputs.

The evidence behind `auto` (the 2-core CPU machine class, same GGUF files; docs/engines.md):
- The engine notes measured llama.cpp at 120-151 tokens/s at 1 stream against 80-98 for mistral.rs 0.9.5's
  CPU build at its best setting (ISQ Q8_0) and 28-36 for the shipped Q4_1 file, and 228 against 111 aggregate
  at 8 streams. mistral.rs also needs serial prefill there (its batching bug) and produces garbage for Gemma 3
  GGUF, which llama.cpp reads correctly. So on CPU, GGUF files go to llama.cpp when it is installed.
- On CUDA and Metal, llama.cpp is chosen only when the installed llama-cpp-python was built with GPU offload;
  a CPU-only build of it would be slower than mistral.rs on the GPU.
- Only mistral.rs serves plain safetensors folders, LoRA / X-LoRA, TOML selectors and in-situ quantization
  (ISQ): those always go to mistral.rs, whatever MISTRAL_ENGINE says.
- Architectures an engine is known to break are never routed to it (BROKEN below); asking for that engine
  explicitly is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontier.config import Settings
from frontier.models.inspect import ModelMeta

ENGINES = ("mistralrs", "llamacpp")

# Encoder-only sentence-embedding models: llama.cpp pools them (llamacpp/embed.py). They are small, so they do
# not count against MISTRAL_MAX_LOADED_MODELS: an embedding model next to a chat model is the usual RAG setup.
EMBEDDING_ARCHITECTURES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "modern-bert",
                                     "neo-bert"})

# architecture -> {engine: what goes wrong}, from greedy-decode checks (tests/engine/test_llamacpp_correctness.py)
BROKEN: dict[str, dict[str, str]] = {
    "gemma3": {"mistralrs": "mistral.rs 0.9.5 generates garbage for Gemma 3 GGUF (' is c a n c a n ...')"},
    "bert": {"mistralrs": "mistral.rs 0.9.5 does not serve BERT embedding models (GGUF); llama.cpp does"},
}


@dataclass(frozen=True, slots=True)
class EngineChoice:
    engine: str  # mistralrs | llamacpp
    reason: str


class EngineRefused(Exception):
    """No engine may serve this model as configured (the message says why and what to change)."""


def serving_engines(architecture: str) -> list[str]:
    """The engines that serve an architecture correctly (as far as Frontier knows)."""
    broken = BROKEN.get(architecture, {})
    return [e for e in ENGINES if e not in broken]


def choose_engine(
    wanted: str, *, model_type: str, architecture: str, device: str, llamacpp_installed: bool,
    llamacpp_gpu: bool, isq_requested: bool,
) -> EngineChoice:
    """`wanted`: MISTRAL_ENGINE. Raises EngineRefused when the only allowed engine would break the model."""
    if model_type != "gguf":
        return EngineChoice("mistralrs", f"{model_type} models are served by mistral.rs only")
    broken = BROKEN.get(architecture, {})
    if "mistralrs" in broken:
        if not llamacpp_installed:
            raise EngineRefused(f"{broken['mistralrs']}; install the llama.cpp engine: "
                                "pip install 'frontier[llamacpp]'")
        overridden = "MISTRAL_ENGINE=mistralrs overridden: " if wanted == "mistralrs" else f"{architecture}: "
        return EngineChoice("llamacpp", overridden + broken["mistralrs"])
    if wanted == "mistralrs":
        return EngineChoice("mistralrs", "MISTRAL_ENGINE=mistralrs")
    if isq_requested and wanted == "auto":
        return EngineChoice("mistralrs", "MISTRAL_DEFAULT_QUANTIZATION asks for in-situ quantization (mistral.rs only)")
    if wanted == "llamacpp":
        if not llamacpp_installed:
            raise EngineRefused("MISTRAL_ENGINE=llamacpp but llama-cpp-python is not installed: "
                                "pip install 'frontier[llamacpp]'")
        if "llamacpp" in broken:
            raise EngineRefused(f"MISTRAL_ENGINE=llamacpp: {broken['llamacpp']}")
        return EngineChoice("llamacpp", "MISTRAL_ENGINE=llamacpp")
    # auto
    if "llamacpp" in broken:
        return EngineChoice("mistralrs", f"{architecture}: {broken['llamacpp']}")
    if not llamacpp_installed:
        return EngineChoice("mistralrs", "llama-cpp-python is not installed")
    if device == "cpu":
        return EngineChoice("llamacpp", "GGUF on CPU: llama.cpp is the faster CPU engine (docs/engines.md)")
    if llamacpp_gpu:
        return EngineChoice("llamacpp", f"GGUF on {device}: llama.cpp built with GPU offload")
    return EngineChoice("mistralrs", f"{device}: the installed llama-cpp-python has no GPU offload")


def choose_isq(settings: Settings, meta: ModelMeta, device: str) -> str | None:
    """The in-situ quantization mistral.rs applies at load (MISTRAL_DEFAULT_QUANTIZATION, `auto` decides)."""
    isq = settings.isq
    if isq != "auto":
        return isq
    # Q4_1 and Q5_x GGUF run scalar on CPU; re-quantising to Q8_0 at load was ~3x faster (engine notes).
    if device == "cpu" and meta.format == "gguf" and not meta.has_simd_kernel:
        return "q8_0"
    return None
