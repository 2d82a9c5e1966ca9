"""What the Ollama capability knows of a model (of this process's engines, or of an upstream), and the
/api/tags, /api/show and /api/ps entries built from it.

Frontier's /v1/models entries carry extension fields (context_length, architecture, quantization,
parameter_count, chat_template, capabilities, size_bytes). Any other OpenAI-compatible server lists only
`id`; then the facts that can be read off the id (parameter size, quantization) are, and the rest stays
unknown rather than invented.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frontier.engine.protocol import ModelInfo
from frontier.engine.remote.translate import extended
from frontier.ollama.clock import FOREVER, from_unix, in_seconds

OLLAMA_CAPABILITIES = ("completion", "tools", "insert", "vision", "embedding", "thinking")
# GGUF general.file_type values (llama.cpp's LLAMA_FTYPE_*), for model_info.
_FILE_TYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
    "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17,
    "Q6_K": 18, "BF16": 32,
}  # fmt: skip
_QUANT_IN_NAME = re.compile(r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)*|bf16|f16|f32)(?![a-z0-9])", re.IGNORECASE)
_SIZE_IN_NAME = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([mb])(?![a-z0-9])", re.IGNORECASE)
# litellm decides native tool support by the word "tools" in the template (a Go template in Ollama).
_TOOLS_NOTE = "{#- tools: this server parses tool calls from the model's output -#}\n"


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    id: str
    created: int = 0
    context_length: int | None = None
    architecture: str | None = None
    quantization: str | None = None
    parameter_count: int | None = None
    chat_template: str | None = None
    capabilities: tuple[str, ...] | None = None  # None: the upstream does not say
    size_bytes: int = 0
    embedding_length: int | None = None
    block_count: int | None = None
    extended: bool = False  # the entry carried Frontier's extension fields
    loaded: bool | None = None  # None: the upstream does not say (it then serves all it lists)
    expires_at: float | None = None  # unix time an idle loaded model unloads; None: not before eviction
    ollama_names: tuple[str, ...] = ()  # names the upstream's catalog gives the file (`mistral:latest`, ...)
    catalog_name: str | None = None

    @classmethod
    def from_openai(cls, entry: Mapping[str, Any]) -> UpstreamModel:
        def number(key: str) -> int | None:
            value = entry.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

        def text(key: str) -> str | None:
            value = entry.get(key)
            return value if isinstance(value, str) and value else None

        capabilities = entry.get("capabilities")
        return cls(
            id=str(entry["id"]),
            created=number("created") or 0,
            context_length=number("context_length") or number("max_model_len") or number("max_context_length"),
            architecture=text("architecture"),
            quantization=text("quantization"),
            parameter_count=number("parameter_count"),
            chat_template=text("chat_template"),
            capabilities=tuple(str(c) for c in capabilities) if isinstance(capabilities, list) else None,
            size_bytes=number("size_bytes") or 0,
            embedding_length=number("embedding_length"),
            block_count=number("block_count"),
            extended=extended(entry),
            loaded=entry["loaded"] if isinstance(entry.get("loaded"), bool) else None,
            expires_at=float(entry["expires_at"]) if isinstance(entry.get("expires_at"), int | float) else None,
            ollama_names=tuple(str(n) for n in entry.get("ollama_names") or () if isinstance(n, str)),
            catalog_name=text("catalog_name"),
        )

    @classmethod
    def from_model_info(cls, m: ModelInfo, ollama_names: tuple[str, ...] = (), catalog_name: str | None = None,
                        ) -> UpstreamModel:
        """A model of this process's own engines: everything is known, and it is manageable."""
        return cls(
            id=m.id, created=m.created, context_length=m.context_length or None,
            architecture=m.architecture or None, quantization=m.quantization or None,
            parameter_count=m.parameter_count or None, chat_template=m.chat_template or None,
            capabilities=tuple(m.capabilities), size_bytes=m.size_bytes, extended=True, loaded=m.loaded,
            expires_at=m.expires_at, ollama_names=ollama_names, catalog_name=catalog_name,
        )

    @property
    def manageable(self) -> bool:
        """The upstream is a Frontier server with model management (`/frontier/models/...`)."""
        return self.loaded is not None

    def supports(self, capability: str) -> bool | None:
        """True/False when the upstream says, None when it does not."""
        return None if self.capabilities is None else capability in self.capabilities


def human_number(count: int) -> str:
    """Ollama's format.HumanNumber: 134515008 -> '134.52M', 7000000000 -> '7B', 7241732096 -> '7.2B'."""
    for scale, suffix, decimals in ((1e9, "B", 1), (1e6, "M", 2)):
        if count >= scale:
            value = count / scale
            return f"{value:.0f}{suffix}" if value == math.floor(value) else f"{value:.{decimals}f}{suffix}"
    return f"{count / 1e3:.0f}K" if count >= 1e3 else str(count)


def parameter_size(model: UpstreamModel) -> str:
    if model.parameter_count:
        return human_number(model.parameter_count)
    match = _SIZE_IN_NAME.search(model.id)
    return f"{match.group(1)}{match.group(2).upper()}" if match else "unknown"


def quantization_level(model: UpstreamModel) -> str:
    if model.quantization:
        return model.quantization.upper()
    match = _QUANT_IN_NAME.search(model.id)
    return match.group(1).upper() if match else "unknown"


def digest(model: UpstreamModel) -> str:
    """64 hex digits, stable per served model (Ollama's is its manifest's hash; there is no manifest here)."""
    return hashlib.sha256(f"{model.id}\0{model.size_bytes}".encode()).hexdigest()


def details(model: UpstreamModel) -> dict[str, Any]:
    family = model.architecture or "unknown"
    return {
        "parent_model": "",
        "format": "safetensors" if model.id.lower().endswith(".safetensors") else "gguf",
        "family": family,
        "families": [family],
        "parameter_size": parameter_size(model),
        "quantization_level": quantization_level(model),
    }


def capabilities(model: UpstreamModel) -> list[str]:
    if model.capabilities is None:
        return ["completion"]
    return [name for name in OLLAMA_CAPABILITIES if name in model.capabilities]


def model_info(model: UpstreamModel) -> dict[str, Any]:
    """GGUF-style keys. litellm takes the first key containing `context_length` as the context window."""
    arch = model.architecture or "unknown"
    info: dict[str, Any] = {"general.architecture": arch, "general.basename": model.id}
    if model.parameter_count:
        info["general.parameter_count"] = model.parameter_count
    file_type = _FILE_TYPES.get(quantization_level(model))
    if file_type is not None:
        info["general.file_type"] = file_type
    for key, value in (
        ("context_length", model.context_length),
        ("embedding_length", model.embedding_length),
        ("block_count", model.block_count),
    ):
        if value:
            info[f"{arch}.{key}"] = value
    return info


def template(model: UpstreamModel) -> str:
    text = model.chat_template or ""
    if model.supports("tools") and "tools" not in text.lower():
        text = _TOOLS_NOTE + text
    return text


def tag_entry(name: str, model: UpstreamModel) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": from_unix(model.created),
        "size": model.size_bytes,
        "digest": digest(model),
        "details": details(model),
    }


def show_response(model: UpstreamModel) -> dict[str, Any]:
    parameters = f"num_ctx {model.context_length}" if model.context_length else ""
    modelfile = f"# Modelfile generated by Frontier\nFROM {model.id}\n"
    if model.chat_template:
        modelfile += f'TEMPLATE """{model.chat_template}"""\n'
    if parameters:
        modelfile += f"PARAMETER {parameters}\n"
    return {
        "license": "",
        "modelfile": modelfile,
        "parameters": parameters,
        "template": template(model),
        "details": details(model),
        "model_info": model_info(model),
        "capabilities": capabilities(model),
        "modified_at": from_unix(model.created),
    }


def ps_entry(name: str, model: UpstreamModel) -> dict[str, Any]:
    # Without an expiry the model stays loaded until the upstream evicts it (or, elsewhere, while it runs).
    expires = from_unix(model.expires_at) if model.expires_at is not None else in_seconds(FOREVER)
    return {
        **tag_entry(name, model),
        "expires_at": expires,
        "size_vram": 0,
        "context_length": model.context_length or 0,
    }
