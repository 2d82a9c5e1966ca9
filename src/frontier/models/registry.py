"""What lives in MISTRAL_MODELS_PATH: every GGUF file and model folder, described from its own metadata and
checked for damage (truncated or unreadable GGUF, missing config or tokenizer). Never loads weights."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from frontier.config import Settings
from frontier.errors import ModelLoadError, ModelNotFoundError
from frontier.models.aliases import read_aliases, update_aliases
from frontier.models.download import safe_target
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


def _listing(models_path: Path) -> list[RegistryEntry]:
    """Top-level *.gguf files and folders holding a config.json or weights, not yet described."""
    if not models_path.is_dir():
        return []
    found = []
    for path in sorted(models_path.iterdir()):
        if path.name.startswith(".") or path.name.endswith(_SIDE_FILES):
            continue
        is_gguf = path.is_file() and path.suffix == ".gguf"
        is_folder = path.is_dir() and ((path / "config.json").exists() or any(path.glob("*.safetensors")))
        if is_gguf or is_folder:
            found.append(RegistryEntry(path.name, path, None))
    return found


def scan(models_path: Path) -> list[RegistryEntry]:
    """Every model in the folder, described, damaged ones included (flagged)."""
    return [describe(entry.path) for entry in _listing(models_path)]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the engine needs to load one model: the id it is served under, where it is, how to read it."""

    id: str
    path: Path
    model_type: str  # gguf | plain | lora | x-lora | toml


def configured_spec(settings: Settings) -> ModelSpec:
    """The model MISTRAL_MODEL_ID / MISTRAL_MODEL_TYPE name, under the id the engine shows for it (its file or
    folder name; an X-LoRA model given by its ordering file is shown by its folder's)."""
    path = settings.model_path()
    shown = path.parent if settings.mistral_model_type == "x-lora" and path.is_file() else path
    return ModelSpec(shown.name, path, settings.mistral_model_type)


def spec_for(entry: RegistryEntry) -> ModelSpec:
    return ModelSpec(entry.name, entry.path, "gguf" if entry.path.is_file() else "plain")


class ModelRegistry:
    """The models a server offers: every sound model in the models folder, the configured model (whatever
    its type or place), and aliases. Metadata is read once per file version (path, size, mtime)."""

    def __init__(self, models_path: Path, configured: ModelSpec | None = None) -> None:
        self.models_path = models_path
        self.configured = configured
        self._described: dict[Path, tuple[tuple[int, int], RegistryEntry]] = {}

    def entries(self) -> list[tuple[ModelSpec, RegistryEntry]]:
        """(spec, entry) for every servable model; damaged ones are left out (`frontier models check` shows them)."""
        found: list[tuple[ModelSpec, RegistryEntry]] = []
        configured = self.configured
        if configured is not None:
            found.append((configured, self._describe(configured.path, configured.id)))
        for path in self._candidates():
            if configured is not None and path.resolve() == configured.path.resolve():
                continue
            entry = self._describe(path, path.name)
            if entry.ok:
                found.append((spec_for(entry), entry))
        return found

    def aliases(self) -> dict[str, str]:
        return read_aliases(self.models_path)

    def resolve(self, name: str) -> ModelSpec:
        """The spec serving `name` (a model id or an alias); ModelNotFoundError otherwise."""
        target = self.aliases().get(name, name)
        for spec, _ in self.entries():
            if spec.id == target:
                return spec
        for path in self._candidates():
            if path.name == target:  # present but damaged: say what is wrong, not that it is missing
                raise ModelLoadError(f"model {name!r} cannot be loaded: {self._describe(path, path.name).problem}")
        raise ModelNotFoundError(name)

    def entry(self, spec: ModelSpec) -> RegistryEntry:
        return self._describe(spec.path, spec.id)

    def _candidates(self) -> list[Path]:
        return [entry.path for entry in _listing(self.models_path)]

    def _describe(self, path: Path, name: str) -> RegistryEntry:
        try:
            stat = path.stat()
            version = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            return RegistryEntry(name, path, None, "missing")
        cached = self._described.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        entry = describe(path)
        entry.name = name
        self._described[path] = (version, entry)
        return entry


# Hidden folder where engines keep converted copies of models (llama.cpp's Q8_0 copies); never listed.
DERIVED_FOLDER = ".derived"
DERIVED_KINDS = ("q8_0",)


def derived_copy(model: Path, kind: str) -> Path:
    """Where the `kind` copy of a model file lives; deleting the model deletes it too."""
    return model.parent / DERIVED_FOLDER / f"{model.stem}.{kind}.gguf"


def remove_model(models_path: Path, name: str) -> list[str]:
    """Deletes a model (file or folder, with its download side files) or an alias from the models folder;
    returns what was removed. Names resolving outside the folder are refused; nothing outside is touched."""
    if name in read_aliases(models_path):
        update_aliases(models_path, lambda table: table.pop(name, None))
        return [f"alias {name}"]
    path = safe_target(models_path, name)
    if not path.exists():
        raise ModelNotFoundError(name)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    removed = [path.name]
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.unlink()
            removed.append(side.name)
    for kind in DERIVED_KINDS:  # an engine's converted copies of it
        copy = derived_copy(path, kind)
        if copy.exists():
            copy.unlink()
            removed.append(f"{DERIVED_FOLDER}/{copy.name}")
    def drop_aliases_of_it(table: dict[str, str]) -> None:
        for alias in [alias for alias, target in table.items() if target == name]:
            del table[alias]

    update_aliases(models_path, drop_aliases_of_it)
    return removed


def write_selector(models_path: Path, name: str) -> Path:
    """A mistral.rs TOML selector for a model in the folder (`frontier models configure`), beside it, with
    paths relative to itself so the folder can move. Serve it with MISTRAL_MODEL_TYPE=toml."""
    path = safe_target(models_path, name)
    entry = describe(path)
    if not entry.ok or entry.meta is None:
        raise ModelLoadError(f"{name}: {entry.problem or 'not a model'}")
    if entry.meta.format == "gguf":
        table = {"kind": "gguf", "quantized_model_id": ".", "quantized_filename": path.name}
    else:
        table = {"kind": "plain", "model_id": f"./{path.name}"}
    target = path.with_name(f"{path.stem if path.is_file() else path.name}.toml")
    header = f"# mistral.rs TOML selector for {path.name}, written by `frontier models configure`.\n"
    header += f"# Serve it with MISTRAL_MODEL_TYPE=toml MISTRAL_MODEL_ID={target.name}\n"
    target.write_text(header + tomli_w.dumps({"model": table}), encoding="utf-8")
    return target
