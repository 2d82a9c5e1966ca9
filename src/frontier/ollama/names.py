"""Ollama model names: normalisation, the name -> upstream id map, and resolution both ways.

Ollama names read `[host/][namespace/]model[:tag]`; `x`, `x:latest` and `library/x:latest` are one model,
and names compare case-insensitively. Upstream ids are whatever the OpenAI-compatible server lists.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from frontier.errors import ConfigError

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_FILE_EXTENSIONS = (".gguf", ".safetensors", ".bin")
_UNSAFE = re.compile(r"[^a-z0-9._\-/:]+")


def normalise(name: str) -> str:
    """'Library/Mistral' -> 'mistral:latest'. The canonical form every comparison uses."""
    text = name.strip().lower()
    text = text.split("@", 1)[0]  # a digest pin names the same model
    parts = text.split("/")
    if len(parts) == 3 and parts[0] == DEFAULT_HOST:
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == DEFAULT_NAMESPACE:
        parts = parts[1:]
    last = parts[-1]
    if ":" not in last:
        last = f"{last}:{DEFAULT_TAG}"
    elif last.endswith(":"):
        last += DEFAULT_TAG
    parts[-1] = last
    return "/".join(parts)


def _stem(upstream_id: str) -> str:
    lowered = upstream_id.lower()
    for extension in _FILE_EXTENSIONS:
        if lowered.endswith(extension):
            return lowered[: -len(extension)]
    return lowered


def derive_name(upstream_id: str) -> str:
    """The name an unmapped upstream id is listed under: 'SmolLM2-1.7B.gguf' -> 'smollm2-1.7b:latest'."""
    cleaned = _UNSAFE.sub("-", _stem(upstream_id)).strip("-/") or "model"
    return normalise(cleaned)


def same_upstream_id(a: str, b: str) -> bool:
    return _stem(a) == _stem(b)


@dataclass(frozen=True, slots=True)
class ModelMap:
    """Normalised Ollama name -> upstream model id."""

    entries: Mapping[str, str]

    @classmethod
    def from_mapping(cls, raw: Mapping[object, object]) -> ModelMap:
        entries: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key.strip() or not value.strip():
                raise ConfigError(f"model map entries must be 'ollama-name: upstream-id' strings, got {key!r}")
            entries[normalise(key)] = value.strip()
        return cls(entries)

    @classmethod
    def load(cls, path: Path | None = None) -> ModelMap:
        """The built-in defaults, extended and overridden by the file at `path` (YAML or TOML) if given."""
        defaults = resources.files("frontier.ollama").joinpath("model_map.yaml").read_text("utf-8")
        merged = dict(cls.from_mapping(yaml.safe_load(defaults) or {}).entries)
        if path is not None:
            merged.update(cls.from_mapping(_read_map_file(path)).entries)
        return cls(merged)

    def target(self, name: str) -> str | None:
        return self.entries.get(normalise(name))

    def names_for(self, upstream_id: str) -> list[str]:
        """Every Ollama name mapped onto `upstream_id`, or its derived name when none is."""
        mapped = sorted(name for name, target in self.entries.items() if same_upstream_id(target, upstream_id))
        return mapped or [derive_name(upstream_id)]

    def resolve(self, name: str, upstream_ids: Sequence[str] | None) -> str | None:
        """The upstream id serving `name`, or None. `upstream_ids` None means the upstream lists nothing
        (a server without /v1/models): the mapped id, or the name itself, is passed through unchecked."""
        wanted = normalise(name)
        target = self.entries.get(wanted)
        if upstream_ids is None:
            return target or name
        if target is not None:
            for upstream_id in upstream_ids:
                if same_upstream_id(upstream_id, target):
                    return upstream_id
        for upstream_id in upstream_ids:
            if wanted in (derive_name(upstream_id), normalise(upstream_id)):
                return upstream_id
        return None


def _read_map_file(path: Path) -> Mapping[object, object]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"FRONTIER_MODEL_MAP: cannot read {path}: {exc}") from None
    try:
        data: object = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"FRONTIER_MODEL_MAP: {path} is not valid {path.suffix or 'YAML'}: {exc}") from None
    if data is None:
        return {}
    if isinstance(data, Mapping) and isinstance(data.get("models"), Mapping):
        data = data["models"]  # a `models:` / `[models]` table is accepted as well as a flat mapping
    if not isinstance(data, Mapping):
        raise ConfigError(f"FRONTIER_MODEL_MAP: {path} must hold a mapping of ollama-name: upstream-id")
    return data
