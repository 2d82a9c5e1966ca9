"""What lives in MISTRAL_MODELS_PATH: every GGUF file and model folder, described from its own metadata and
checked for damage (truncated or unreadable GGUF, missing config or tokenizer). Never loads weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from frontier.errors import ModelLoadError
from frontier.models.inspect import ModelMeta, read_meta

# Download bookkeeping that lives beside models (see models/download.py), never a model itself.
_SIDE_FILES = (".partial", ".lock", ".sha256")


@dataclass(slots=True)
class RegistryEntry:
    name: str
    path: Path
    meta: ModelMeta | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _gguf_problem(meta: ModelMeta) -> str:
    if meta.data_end > meta.size_bytes:
        return f"truncated: tensor data ends at byte {meta.data_end}, file has {meta.size_bytes}"
    return ""


def _folder_problem(folder: Path) -> str:
    if not (folder / "config.json").is_file():
        return "config.json is missing"
    if not (folder / "tokenizer.json").is_file():
        return "tokenizer.json is missing"
    if not any(folder.glob("*.safetensors")):
        return "no *.safetensors weights"
    return ""


def describe(path: Path) -> RegistryEntry:
    """One model file or folder, with what is wrong with it if anything."""
    try:
        meta = read_meta(path)
        problem = _gguf_problem(meta) if meta.format == "gguf" else _folder_problem(path) if path.is_dir() else ""
    except ModelLoadError as exc:
        return RegistryEntry(path.name, path, None, str(exc))
    except (ValueError, OSError, KeyError, IndexError) as exc:
        return RegistryEntry(path.name, path, None, f"unreadable: {exc}")
    return RegistryEntry(path.name, path, meta, problem)


def scan(models_path: Path) -> list[RegistryEntry]:
    """Every model in the folder: top-level *.gguf files and folders holding a config.json or weights."""
    if not models_path.is_dir():
        return []
    entries = []
    for path in sorted(models_path.iterdir()):
        if path.name.startswith(".") or path.name.endswith(_SIDE_FILES):
            continue
        is_gguf = path.is_file() and path.suffix == ".gguf"
        is_folder = path.is_dir() and ((path / "config.json").exists() or any(path.glob("*.safetensors")))
        if is_gguf or is_folder:
            entries.append(describe(path))
    return entries
