"""Every setting Frontier honours, in one pydantic-settings model.

Sources, strongest first: explicit keyword arguments (the CLI), environment variables, then `.env` in the
working folder. Each field's description is the documentation `.env.example` and the README table repeat.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontier.errors import ConfigError

ModelType = Literal["plain", "gguf", "lora", "x-lora", "toml"]
Device = Literal["auto", "cpu", "cuda", "metal"]
EngineName = Literal["auto", "mistralrs", "llamacpp"]
LogLevel = Literal["trace", "debug", "info", "warning", "error", "critical"]
LogFormat = Literal["text", "json"]

# ISQ names mistral.rs 0.9.5 accepts (lower-cased); llama.cpp-style K-quant names such as q5_k_m are
# accepted too and mapped onto the engine's K type of the same width (the _s/_m mix is a GGUF-file notion).
ISQ_TYPES = (
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q2k", "q3k", "q4k", "q5k", "q6k", "q8k",
    "hqq4", "hqq8", "fp8", "afq2", "afq3", "afq4", "afq6", "afq8", "f8q8", "mxfp4",
)
_KQUANT_ALIAS = re.compile(r"^q([2-8])_?k(_[sml])?$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'64G' -> bytes. Docker's memory syntax (b, k, m, g), with optional 'i'/'B' suffixes tolerated."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (expected e.g. 512M, 64G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def normalise_isq(text: str) -> str | None:
    """Returns the engine's ISQ name, None for 'none'/'', or raises ValueError for unknown names."""
    value = text.strip().lower()
    if value in ("", "none", "off"):
        return None
    if value == "auto":
        return "auto"
    match = _KQUANT_ALIAS.match(value)
    if match:
        value = f"q{match.group(1)}k"
    if value not in ISQ_TYPES:
        raise ValueError(f"unknown quantization {text!r}; allowed: auto, none, {', '.join(ISQ_TYPES)}")
    return value


class Settings(BaseSettings):
    """Frontier's configuration. Field names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- inference server -------------------------------------------------------------------------
    mistral_host: str = Field("127.0.0.1", description="Address the OpenAI-compatible server binds.")
    mistral_api_port: int = Field(8080, ge=1, le=65535, description="Port of the OpenAI-compatible server.")
    mistral_models_path: Path = Field(Path("models"), description="Folder holding model files.")
    mistral_model_type: ModelType = Field("gguf", description="plain | gguf | lora | x-lora | toml.")
    mistral_model_id: str = Field(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        description="Model to serve: a file or folder in MISTRAL_MODELS_PATH (or an absolute path).",
    )
    mistral_log_level: LogLevel = Field("info", description="Log level of the server (and the engine).")
    mistral_max_batch_size: int = Field(8, ge=1, le=256, description="Sequences decoded together at most.")
    mistral_enable_continuous_batching: bool = Field(
        True, description="Admit new requests while others decode; false serves one request at a time."
    )
    mistral_prefix_cache_n: int = Field(16, ge=0, description="Sequences kept in the prefix cache; 0 disables.")
    mistral_max_seq_len: int = Field(32768, ge=16, description="Context budget per request (tokens).")
    mistral_default_quantization: str = Field(
        "auto",
        description="In-situ quantization (ISQ) applied at load: auto, none, q8_0, q4k, q5_k_m, ... "
        "auto = q8_0 on CPU for GGUF types without a SIMD kernel (Q4_1, Q5_x), else as shipped.",
    )
    mistral_memory_limit: str = Field("64G", description="Memory the server may use; bigger models are refused.")
    mistral_memory_reservation: str = Field("32G", description="Memory reserved for the container (Docker).")
    mistral_memory_fraction: float = Field(
        0.9, gt=0, le=1, description="Share of GPU memory for the KV cache (paged attention: CUDA, Metal)."
    )
    mistral_enable_memory_pooling: bool = Field(False, description="Paged KV-cache memory pool (CUDA, Metal).")
    mistral_device: Device = Field("auto", description="auto | cpu | cuda | metal; overrides detection.")
    mistral_threads: int = Field(
        0, ge=0, le=1024, description="CPU threads of the llama.cpp engine; 0 = every core this process may use."
    )
    mistral_kv_layout: Literal["auto", "split", "unified"] = Field(
        "auto", description="llama.cpp engine KV cache: `split` gives every slot a whole context of its own (a "
                            "decode attends only over its own tokens), `unified` shares one pool of up to 16,384 "
                            "cells; `auto` splits where that costs at most 2 GiB and a quarter of "
                            "MISTRAL_MEMORY_LIMIT."
    )
    mistral_adaptive_threads: bool = Field(
        True, description="Decode with fewer threads while other processes hold cores (llama.cpp engine on CPU); "
                          "false: always MISTRAL_THREADS."
    )
    mistral_engine: EngineName = Field(
        "auto", description="auto | mistralrs | llamacpp: which engine serves GGUF models (see docs/engines.md)."
    )
    enable_metal: bool = Field(True, description="Use Metal on Apple silicon when available.")
    enable_cuda: bool = Field(False, description="Use CUDA when an NVIDIA GPU and a CUDA engine build exist.")
    mistral_use_flash_attention: bool = Field(False, description="Flash attention (CUDA engine builds).")
    mistral_metal_heap_size: str | None = Field(None, description="Metal heap size, e.g. 8G (macOS only).")
    mistral_seed: int | None = Field(None, description="Engine-wide sampling seed (mistral.rs seeds at load).")
    mistral_max_loaded_models: int = Field(
        1, ge=1, le=64,
        description="Models kept loaded at once; a request naming another registered model loads it on demand "
        "and the least recently used one is unloaded. Embedding models do not count.",
    )
    frontier_catalog: Path | None = Field(
        None, description="Extra model catalog (YAML, the shape of the built-in one); its entries add to and "
        "override the built-in catalog (private mirrors).",
    )

    # --- limits and draining (both services) ------------------------------------------------------
    frontier_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024,
        description="Largest request body either service reads (bytes; 16 MiB leaves room for images in chat); "
        "larger ones get 413, also when sent chunked without a Content-Length.",
    )
    frontier_max_tokens: int | None = Field(
        None, ge=1,
        description="Largest max_tokens / num_predict any request gets (bigger asks are clamped); "
        "unset = the context. A request asking for more than fits the context gets what fits.",
    )
    frontier_max_messages: int = Field(
        2048, ge=1, description="Most messages one chat request may carry; more is a 400."
    )
    frontier_max_prompt_chars: int = Field(
        2_000_000, ge=1,
        description="Most characters of prompt text per request (all messages together); more is a 400.",
    )
    frontier_max_queue: int = Field(
        64, ge=0,
        description="Generations allowed to wait for an engine slot beyond the running ones (MISTRAL_MAX_BATCH_SIZE); "
        "beyond it the server answers 429 and the Ollama API 503, both with Retry-After.",
    )
    frontier_drain_seconds: float = Field(
        30.0, ge=0,
        description="On SIGTERM, how long in-flight requests may run to completion while new ones get 503; "
        "then the process exits.",
    )

    # --- Ollama-compatible API ---------------------------------------------------------------
    ollama_api_host: str = Field("127.0.0.1", description="Address the Ollama-compatible API binds.")
    ollama_api_port: int = Field(11434, ge=1, le=65535, description="Port of the Ollama-compatible API.")
    frontier_upstream_url: str = Field(
        "", description="OpenAI-compatible upstream `frontier proxy` fronts; default http://MISTRAL_HOST:MISTRAL_API_PORT."
    )
    frontier_model_map: Path | None = Field(
        None, description="YAML/TOML file mapping Ollama names to upstream model ids (defaults built in)."
    )
    proxy_log_level: LogLevel = Field("info", description="Log level of the Ollama-compatible API.")

    # --- observability ----------------------------------------------------------------------------
    frontier_log_format: LogFormat = Field(
        "text", description="Log format of every service: text (a terminal) or json (one object a line)."
    )

    # --- security (docs/security.md) ----------------------------------------------------------------
    frontier_api_key: str = Field(
        "", repr=False,
        description="API key both services require (Authorization: Bearer <key>, what the OpenAI SDK and "
        "litellm's OLLAMA_API_KEY send); empty: no key (fine on 127.0.0.1, not on a shared network).",
    )
    frontier_upstream_api_key: str | None = Field(
        None, repr=False,
        description="Key the Ollama API sends to its upstream; unset: FRONTIER_API_KEY (one key for the stack).",
    )
    frontier_open_health: bool = Field(
        True, description="Health endpoints answer without the key (/health; the Ollama API's /, /api/version)."
    )
    frontier_open_metrics: bool = Field(True, description="/metrics answers without the key (Prometheus scrapes).")
    frontier_cors_origins: str = Field(
        "", description="Browser origins allowed by CORS, comma-separated, or *; empty: CORS off (no headers)."
    )

    # --- running the stack (frontier start / stop / status) ---------------------------------------
    frontier_state_dir: Path = Field(
        Path(".frontier"), description="Folder for the pid and log files of `frontier start` and the Responses "
                                       "API's stored responses (relative: to the cwd)."
    )

    @field_validator("mistral_log_level", "proxy_log_level", "frontier_log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("mistral_device", "mistral_model_type", mode="before")
    @classmethod
    def _lower_enum(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("mistral_memory_limit", "mistral_memory_reservation", "mistral_metal_heap_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value

    @field_validator("mistral_default_quantization")
    @classmethod
    def _isq(cls, value: str) -> str:
        normalise_isq(value)
        return value

    # --- derived values ---------------------------------------------------------------------------
    @property
    def memory_limit_bytes(self) -> int:
        return parse_size(self.mistral_memory_limit)

    @property
    def slots(self) -> int:
        """Generations an engine runs at once: MISTRAL_MAX_BATCH_SIZE with continuous batching, else one."""
        return self.mistral_max_batch_size if self.mistral_enable_continuous_batching else 1

    @property
    def isq(self) -> str | None:
        return normalise_isq(self.mistral_default_quantization)

    @property
    def upstream_url(self) -> str:
        if self.frontier_upstream_url:
            return self.frontier_upstream_url.rstrip("/")
        host = "127.0.0.1" if self.mistral_host in ("0.0.0.0", "::") else self.mistral_host
        return f"http://{host}:{self.mistral_api_port}"

    @property
    def upstream_api_key(self) -> str:
        return self.frontier_api_key if self.frontier_upstream_api_key is None else self.frontier_upstream_api_key

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.frontier_cors_origins.split(",") if origin.strip()]

    def model_path(self) -> Path:
        """The configured model, resolved inside the models folder unless given as an absolute path."""
        candidate = Path(self.mistral_model_id)
        return candidate if candidate.is_absolute() else self.mistral_models_path / candidate


def load_settings(**overrides: object) -> Settings:
    """Builds Settings, turning pydantic's error list into one ConfigError that names variable, value, rule."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            lines.append(f"{name}={err.get('input')!r}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
