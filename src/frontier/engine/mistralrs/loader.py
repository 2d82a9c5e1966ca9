"""Maps Frontier's configured model type and path onto the mistral.rs `Which` that loads it.

    gguf    a .gguf file                        Which.GGUF (the file's own tokenizer and chat template)
    plain   a HF folder (config.json, ...)      Which.Plain
    lora    a PEFT adapter folder               Which.Lora on the base named by adapter_config.json
    x-lora  an X-LoRA folder + ordering file    Which.XLora on the base named by the ordering file
    toml    a mistral.rs TOML selector          the Which its `[model]` table describes

Every check runs before the engine is touched, so a bad path fails fast with a ModelLoadError that names the
path and what is missing, instead of a panic from inside the engine.
"""

from __future__ import annotations

import inspect
import json
import tomllib
from pathlib import Path
from typing import Any, cast

from mistralrs import Architecture, LoraAdapter, ModelDType, Which
from safetensors import safe_open

from frontier.errors import ModelLoadError

ORDERING_FILE = "ordering.json"

# An instance of one of the Which.* classes; the engine's stubs give them no common base class.
WhichSelection = Any

# (Architecture member, mistral.rs arch name, HF config.json model_type, HF architectures class)
_ARCHITECTURES = [
    ("Llama", "llama", "llama", "LlamaForCausalLM"),
    ("Mistral", "mistral", "mistral", "MistralForCausalLM"),
    ("Mixtral", "mixtral", "mixtral", "MixtralForCausalLM"),
    ("Gemma", "gemma", "gemma", "GemmaForCausalLM"),
    ("Gemma2", "gemma2", "gemma2", "Gemma2ForCausalLM"),
    ("Phi2", "phi2", "phi", "PhiForCausalLM"),
    ("Phi3", "phi3", "phi3", "Phi3ForCausalLM"),
    ("Phi3_5MoE", "phi3.5moe", "phimoe", "PhiMoEForCausalLM"),
    ("Qwen2", "qwen2", "qwen2", "Qwen2ForCausalLM"),
    ("Qwen3", "qwen3", "qwen3", "Qwen3ForCausalLM"),
    ("Qwen3Moe", "qwen3moe", "qwen3_moe", "Qwen3MoeForCausalLM"),
    ("Qwen3Next", "qwen3next", "qwen3_next", "Qwen3NextForCausalLM"),
    ("Starcoder2", "starcoder2", "starcoder2", "Starcoder2ForCausalLM"),
    ("DeepseekV2", "deepseekv2", "deepseek_v2", "DeepseekV2ForCausalLM"),
    ("DeepseekV3", "deepseekv3", "deepseek_v3", "DeepseekV3ForCausalLM"),
    ("GLM4", "glm4", "glm4", "Glm4ForCausalLM"),
    ("GLM4Moe", "glm4moe", "glm4_moe", "Glm4MoeForCausalLM"),
    ("GLM4MoeLite", "glm4moelite", "glm4_moe_lite", "Glm4MoeLiteForCausalLM"),
    ("SmolLm3", "smollm3", "smollm3", "SmolLM3ForCausalLM"),
    ("GraniteMoeHybrid", "granitemoehybrid", "granitemoehybrid", "GraniteMoeHybridForCausalLM"),
    ("GptOss", "gptoss", "gpt_oss", "GptOssForCausalLM"),
    ("Lfm2", "lfm2", "lfm2", "Lfm2ForCausalLM"),
    ("Lfm2Moe", "lfm2_moe", "lfm2_moe", "Lfm2MoeForCausalLM"),
]
_DTYPES = {"auto": ModelDType.Auto, "bf16": ModelDType.BF16, "f16": ModelDType.F16, "f32": ModelDType.F32}

# TOML `kind` -> Which class; multimodal and embedding kinds exist in mistral.rs but Frontier serves text.
_TOML_KINDS = {
    "plain": Which.Plain, "lora": Which.Lora, "xlora": Which.XLora, "gguf": Which.GGUF,
    "xlora_gguf": Which.XLoraGGUF, "legacy_lora_gguf": Which.LoraGGUF,
    "ggml": Which.GGML, "xlora_ggml": Which.XLoraGGML, "legacy_lora_ggml": Which.LoraGGML,
}
_TOML_PATH_KEYS = {
    "model_id", "xlora_model_id", "order", "adapters_model_id", "quantized_model_id", "tok_model_id",
    "tokenizer_json", "topology", "from_uqff", "imatrix", "calibration_file", "hf_cache_path",
    "matformer_config_path",
}
# Device-mapping hints of mistral.rs's own TOML loader; the Python `Which` has no such fields.
_TOML_IGNORED_KEYS = {"max_seq_len", "max_batch_size", "max_num_images", "max_image_length"}


def which_for(model_type: str, path: Path) -> tuple[WhichSelection, str]:
    """The `Which` that loads `path` as `model_type`, and the id Frontier shows for it: its file or folder
    name (for an X-LoRA model given by its ordering file, the folder's)."""
    path = Path(path).expanduser().resolve()
    builders = {"gguf": _gguf, "plain": _plain, "lora": _lora, "x-lora": _xlora, "toml": _toml}
    if model_type not in builders:
        raise ModelLoadError(f"unknown model type {model_type!r}; expected one of {', '.join(builders)}")
    if not path.exists():
        raise ModelLoadError(f"{model_type} model not found: {path} does not exist")
    shown = path.parent if model_type == "x-lora" and path.is_file() else path
    return builders[model_type](path), shown.name


def adapters_for(model_type: str, path: Path) -> tuple[str, ...]:
    """LoRA aliases a request must name (`adapter=`) for the adapter to apply; () for other types.

    With `Which.Lora`, mistral.rs answers requests without `adapter=` from the base model.
    """
    path = Path(path).expanduser().resolve()
    if model_type == "lora":
        return (_lora_alias(path),)
    if model_type == "toml":
        model = _toml_model(path)[1]
        if (model.get("kind") or _infer_kind(model, path)) == "lora":
            adapters = model.get("adapters") or []
            return tuple(str(a.get("alias", "")) for a in adapters if isinstance(a, dict))
    return ()


def default_adapter(model_type: str, path: Path) -> str | None:
    """The adapter to apply when a request names none: whoever configures a LoRA model expects its effect."""
    aliases = adapters_for(model_type, path)
    return aliases[0] if aliases else None


def architecture_for(config: dict[str, Any], where: Path) -> Architecture:
    model_type = config.get("model_type")
    classes = config.get("architectures") or []
    for member, _, hf_type, hf_class in _ARCHITECTURES:
        if model_type == hf_type or (model_type is None and hf_class in classes):
            return cast(Architecture, getattr(Architecture, member))
    raise ModelLoadError(
        f"unknown architecture in {where / 'config.json'}: model_type={model_type!r}, "
        f"architectures={classes}; mistral.rs text models: {', '.join(t for _, _, t, _ in _ARCHITECTURES)}"
    )


def _gguf(path: Path) -> WhichSelection:
    if not path.is_file():
        raise ModelLoadError(f"gguf model {path} is not a file")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelLoadError(f"gguf model {path} is not a GGUF file (bad magic bytes)")
    return Which.GGUF(quantized_model_id=str(path.parent), quantized_filename=path.name)


def _plain(path: Path) -> WhichSelection:
    return Which.Plain(model_id=str(path), arch=_check_plain(path, "plain model"))


def _check_plain(folder: Path, role: str) -> Architecture:
    if not folder.is_dir():
        raise ModelLoadError(f"{role} {folder} is not a folder")
    config = _read_json(folder / "config.json", role)
    if not (folder / "tokenizer.json").is_file():
        raise ModelLoadError(f"{role} {folder} has no tokenizer.json")
    if not any(folder.glob("*.safetensors")):
        raise ModelLoadError(f"{role} {folder} has no *.safetensors weights")
    return architecture_for(config, folder)


def _lora(path: Path) -> WhichSelection:
    base = _lora_base(path)
    return Which.Lora(model_id=str(base), arch=_check_plain(base, f"base model of LoRA adapter {path}"),
                      adapters=[LoraAdapter(_lora_alias(path), str(path))])


def _lora_base(adapter: Path) -> Path:
    config = _read_json(adapter / "adapter_config.json", "LoRA adapter")
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise ModelLoadError(f"LoRA adapter {adapter}: peft_type is {config.get('peft_type')!r}, not 'LORA'")
    if not (adapter / "adapter_model.safetensors").is_file():
        raise ModelLoadError(f"LoRA adapter {adapter} has no adapter_model.safetensors")
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(f"LoRA adapter {adapter}: adapter_config.json names no base_model_name_or_path")
    resolved = (adapter.parent / base).resolve()
    if not resolved.is_dir():
        raise ModelLoadError(f"LoRA adapter {adapter}: base model {base!r} not found (looked at {resolved})")
    return Path(resolved)


def _lora_alias(adapter: Path) -> str:
    return adapter.name


def _xlora(path: Path) -> WhichSelection:
    folder, ordering_path = (path.parent, path) if path.is_file() else (path, path / ORDERING_FILE)
    if not ordering_path.is_file():
        raise ModelLoadError(f"X-LoRA model {folder} has no ordering file {ordering_path.name}")
    ordering = _read_json(ordering_path, "X-LoRA ordering file")
    for key in ("base_model_id", "order", "layers"):
        if key not in ordering:
            raise ModelLoadError(f"X-LoRA ordering file {ordering_path} has no {key!r}")
    xlora_config = _read_json(folder / "xlora_config.json", "X-LoRA model")
    if not (folder / "xlora_classifier.safetensors").is_file():
        raise ModelLoadError(f"X-LoRA model {folder} has no xlora_classifier.safetensors")
    base_id = str(ordering["base_model_id"])
    # mistral.rs compares the ordering's, the xlora_config's and the given base id as strings, and resolves
    # a relative one from the working directory; so the id is passed through exactly as written.
    if xlora_config.get("base_model_id") != base_id:
        raise ModelLoadError(f"X-LoRA model {folder}: base_model_id differs between {ordering_path.name} "
                             f"({base_id!r}) and xlora_config.json ({xlora_config.get('base_model_id')!r})")
    base = Path(base_id)
    if not base.is_dir():
        hint = "" if base.is_absolute() else f" from {Path.cwd()}; write it as an absolute path"
        raise ModelLoadError(f"X-LoRA model {folder}: base model {base_id!r} not found{hint}")
    arch = _check_plain(base, f"base model of X-LoRA model {folder}")
    if not _has_tensor(base, "lm_head.weight"):
        raise ModelLoadError(f"X-LoRA base model {base} has no lm_head.weight (tied embeddings); "
                             "mistral.rs's X-LoRA models need the output head stored explicitly")
    return Which.XLora(xlora_model_id=str(folder), order=str(ordering_path), model_id=base_id, arch=arch)


def _has_tensor(folder: Path, name: str) -> bool:
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), framework="numpy") as weights:
            if name in weights.keys():  # noqa: SIM118 - safe_open is not a mapping
                return True
    return False


def _toml(path: Path) -> WhichSelection:
    document, model = _toml_model(path)
    kind = str(model.pop("kind", None) or _infer_kind(model, path))
    if kind not in _TOML_KINDS:
        known = ", ".join(_TOML_KINDS)
        raise ModelLoadError(f"TOML selector {path}: unknown kind {kind!r}; Frontier loads {known}")
    which_class = _TOML_KINDS[kind]
    params = inspect.signature(which_class).parameters
    kwargs: dict[str, Any] = {}
    if document.get("tokenizer_json"):
        model["tokenizer_json"] = document["tokenizer_json"]
    for key, value in model.items():
        if key in _TOML_IGNORED_KEYS:
            continue
        if key == "runtime_config" and "max_adapters" in params:
            limits = ("max_adapters", "max_rank", "max_bytes")
            kwargs.update({k: v for k, v in dict(value).items() if k in limits})
            continue
        if key not in params:
            raise ModelLoadError(f"TOML selector {path}: key {key!r} is not valid for kind {kind!r}")
        kwargs[key] = _toml_value(key, value, path)
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise ModelLoadError(f"TOML selector {path}: kind {kind!r} needs {', '.join(missing)}")
    return which_class(**kwargs)


def _toml_model(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelLoadError(f"TOML selector {path} cannot be read: {exc}") from exc
    model = document.get("model")
    if not isinstance(model, dict):
        raise ModelLoadError(f"TOML selector {path} has no [model] table")
    for key in ("speculative", "anymoe"):
        if key in document:
            raise ModelLoadError(f"TOML selector {path}: [{key}] is not supported by Frontier")
    return document, dict(model)


def _infer_kind(model: dict[str, Any], path: Path) -> str:
    # mistral.rs's rule for selectors without `kind`, for the text kinds.
    if "adapter_model_ids" in model:
        raise ModelLoadError(f"TOML selector {path}: legacy adapter_model_ids is no longer supported; "
                             "use kind = \"lora\" with [[model.adapters]]")
    quantized = any(k in model for k in ("tok_model_id", "quantized_model_id", "quantized_filename", "gqa"))
    ggml = "gqa" in model
    families = [f for f, keys in (("xlora", ("xlora_model_id", "tgt_non_granular_index")),
                                  ("lora", ("adapters", "runtime_config")),
                                  ("legacy_lora", ("adapters_model_id",))) if any(k in model for k in keys)]
    if len(families) > 1 or (families == ["lora"] and quantized):
        raise ModelLoadError(f"TOML selector {path}: [model] mixes fields of several kinds; set `kind`")
    family = families[0] if families else None
    if family == "lora":
        return "lora"
    suffix = ("_ggml" if ggml else "_gguf") if quantized else ""
    if family is None:
        return suffix[1:] if quantized else "plain"
    return family + suffix


def _toml_value(key: str, value: Any, toml_path: Path) -> Any:
    if key == "arch":
        for member, name, _, _ in _ARCHITECTURES:
            if value == name:
                return cast(Architecture, getattr(Architecture, member))
        raise ModelLoadError(f"TOML selector {toml_path}: unknown arch {value!r}")
    if key == "dtype":
        if str(value).lower() not in _DTYPES:
            known = ", ".join(_DTYPES)
            raise ModelLoadError(f"TOML selector {toml_path}: unknown dtype {value!r}; expected {known}")
        return _DTYPES[str(value).lower()]
    if key == "adapters":
        try:
            return [LoraAdapter(str(a["alias"]), _toml_path(str(a["source"]), toml_path), a.get("revision"))
                    for a in value]
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"TOML selector {toml_path}: each [[model.adapters]] needs alias and source"
            ) from exc
    if key == "quantized_filename" and isinstance(value, str) and " " in value:
        return value.split(" ")  # mistral.rs's delimiter for multi-file GGUF
    if key == "write_uqff":
        return str((toml_path.parent / value).resolve())
    if key == "from_uqff" and isinstance(value, str) and ";" in value:
        return [_toml_path(v, toml_path) for v in value.split(";")]
    if key in _TOML_PATH_KEYS and isinstance(value, str):
        return _toml_path(value, toml_path)
    return value


def _toml_path(value: str, toml_path: Path) -> str:
    """Relative paths resolve from the TOML file's folder; anything else is left alone (a hub id, say)."""
    if Path(value).is_absolute():
        return value
    candidate = (toml_path.parent / value).resolve()
    if candidate.exists():
        return str(candidate)
    if value.startswith(("./", "../")):
        raise ModelLoadError(f"TOML selector {toml_path}: {value!r} not found (looked at {candidate})")
    return value


def _read_json(path: Path, role: str) -> dict[str, Any]:
    if not path.is_file():
        raise ModelLoadError(f"{role} {path.parent} has no {path.name}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{role} {path.parent}: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{role} {path.parent}: {path.name} is not a JSON object")
    return data
