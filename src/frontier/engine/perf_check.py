"""`frontier perf-check`: the facts that decide speed on this machine, and what to change, with reasons.

Facts are gathered once (`gather`); the recommendations are a pure function of them (`recommend`), so each rule
is testable with hand-built facts. Device choice and per-setting effects come from `frontier.engine` (the same
code the server's start-up report uses), not from a copy.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from frontier.config import Settings
from frontier.engine.choice import choose_isq
from frontier.engine.device import DeviceChoice, Hardware, choose_device, detect_hardware
from frontier.engine.report import SettingEffect, setting_effects
from frontier.models.inspect import ModelMeta, read_meta

# CPU features the engine's kernels (candle, gemm) dispatch on, in the order worth reporting.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
              "amx_tile", "neon", "asimd", "asimddp", "i8mm", "sve")
PERF_VARIABLES = ("MISTRAL_MODEL_ID", "MISTRAL_MAX_BATCH_SIZE", "MISTRAL_ENABLE_CONTINUOUS_BATCHING",
                  "MISTRAL_PREFIX_CACHE_N", "MISTRAL_MAX_SEQ_LEN", "MISTRAL_DEFAULT_QUANTIZATION",
                  "MISTRAL_MEMORY_FRACTION", "MISTRAL_ENABLE_MEMORY_POOLING", "MISTRAL_USE_FLASH_ATTENTION",
                  "MISTRAL_METAL_HEAP_SIZE", "MISTRAL_DEVICE", "ENABLE_METAL", "ENABLE_CUDA", "MISTRAL_LOG_LEVEL")
ENGINE_NOTES = "2 CPU cores, SmolLM2-135M; docs/performance-tuning.md"


@dataclass(slots=True)
class Facts:
    system: str
    machine: str
    cpu_model: str
    logical_cores: int
    usable_cores: int
    simd: list[str]
    hardware: Hardware
    device: DeviceChoice
    engine_version: str | None
    engine_build: str
    rayon_threads: int | None  # RAYON_NUM_THREADS when set
    settings: Settings
    effects: list[SettingEffect]
    model_meta: ModelMeta | None
    model_error: str = ""
    isq: str | None = None
    llamacpp_version: str | None = None  # llama-cpp-python, when installed
    engine_choice: str = ""  # which engine serves the configured model, and why

    @property
    def threads(self) -> int:
        """Matmul threads: rayon's pool is RAYON_NUM_THREADS, else the cores this process may use."""
        return self.rayon_threads or self.usable_cores


@dataclass(frozen=True, slots=True)
class Recommendation:
    level: str  # "change": measured gain or a misconfiguration; "consider": depends on traffic; "info"
    variable: str
    suggestion: str
    reason: str


@dataclass(slots=True)
class CpuInfo:
    model: str = ""
    flags: set[str] = field(default_factory=set)


def read_cpuinfo(text: str) -> CpuInfo:
    """`/proc/cpuinfo` text -> model name and feature flags (x86 `flags`, Arm `Features`)."""
    info = CpuInfo()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not info.model:
            info.model = value.strip()
        elif key in ("flags", "features"):
            info.flags.update(value.split())
    return info


def engine_build(version: str | None, hw: Hardware) -> str:
    if version is None:
        return "not installed"
    if "cuda" in version or "cuda" in hw.engine_builds:
        return "CUDA build"
    if hw.system == "Darwin":
        return "macOS build (Metal and CPU)"
    return "CPU build (PyPI wheel, generic x86-64 target)" if hw.machine in ("x86_64", "AMD64") else "CPU build"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def gather(settings: Settings, cpuinfo_path: Path = Path("/proc/cpuinfo")) -> Facts:
    hw = detect_hardware()
    device = choose_device(settings, hw)
    cpu = read_cpuinfo(cpuinfo_path.read_text(errors="replace")) if cpuinfo_path.exists() else CpuInfo()
    try:
        version: str | None = importlib.metadata.version("mistralrs")
    except importlib.metadata.PackageNotFoundError:
        version = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    meta, error, isq = None, "", None
    try:
        if settings.mistral_model_type in ("gguf", "plain"):
            meta = read_meta(settings.model_path())
            isq = choose_isq(settings, meta, device.device)
        else:
            isq = settings.isq if settings.isq != "auto" else None
    except (OSError, ValueError) as exc:
        error = f"{settings.model_path()}: {exc}"
    try:
        llamacpp: str | None = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        llamacpp = None
    choice = _engine_choice(settings, device)
    return Facts(
        llamacpp_version=llamacpp, engine_choice=choice,
        system=hw.system, machine=hw.machine, cpu_model=cpu.model or platform.processor(),
        logical_cores=os.cpu_count() or 1, usable_cores=usable,
        simd=[f for f in SIMD_FLAGS if f in cpu.flags], hardware=hw, device=device,
        engine_version=version, engine_build=engine_build(version, hw),
        rayon_threads=_env_int("RAYON_NUM_THREADS"), settings=settings,
        effects=setting_effects(settings, device), model_meta=meta, model_error=error, isq=isq,
    )


def _engine_choice(settings: Settings, device: DeviceChoice) -> str:
    from frontier.engine.factory import engine_choice
    from frontier.errors import ModelLoadError
    from frontier.models.registry import configured_spec

    try:
        choice = engine_choice(settings, device, configured_spec(settings))
    except ModelLoadError as exc:
        return f"none: {exc}"
    return f"{choice.engine} ({choice.reason})"


def recommend(f: Facts) -> list[Recommendation]:
    s, dev, out = f.settings, f.device.device, []
    meta = f.model_meta
    if dev == "cpu" and meta is not None and meta.format == "gguf" and not meta.has_simd_kernel and f.isq is None:
        if f.engine_choice.startswith("llamacpp"):
            out.append(Recommendation(
                "change", "MISTRAL_DEFAULT_QUANTIZATION", "auto",
                f"{meta.quantization} has no tiled GEMM or repacked kernel in llama.cpp's CPU backend; auto serves a "
                "Q8_0 copy of the same quality: TTFT 0.37 -> 0.22 s, 8 streams 74 -> 91 tok/s "
                "(docs/performance-tuning.md)"))
        else:
            out.append(Recommendation(
                "change", "MISTRAL_DEFAULT_QUANTIZATION", "q8_0 (or auto)",
                f"{meta.quantization} has no SIMD kernel in the engine's CPU build and runs scalar; re-quantizing "
                f"to Q8_0 at load was ~3x faster (28-36 -> 80-98 tok/s, {ENGINE_NOTES})"))
    if dev == "cpu" and f.isq in ("q4k", "q4_0", "q4_1", "q5_0", "q5_1", "q5k"):
        out.append(Recommendation(
            "consider", "MISTRAL_DEFAULT_QUANTIZATION", "q8_0",
            f"on CPU, ISQ {f.isq.upper()} decoded slower than Q8_0 on a small model (Q4K 33, Q4_0 55, Q8_0 80-98 "
            f"tok/s, {ENGINE_NOTES}); keep the lower bit width only if memory is the limit"))
    if f.rayon_threads and f.rayon_threads > f.usable_cores:
        out.append(Recommendation(
            "change", "RAYON_NUM_THREADS", str(f.usable_cores),
            f"{f.rayon_threads} matmul threads on {f.usable_cores} usable cores: oversubscribed threads preempt "
            "each other and a stalled thread stalls the whole decode step"))
    if not s.mistral_enable_continuous_batching or s.mistral_max_batch_size == 1:
        out.append(Recommendation(
            "consider", "MISTRAL_ENABLE_CONTINUOUS_BATCHING / MISTRAL_MAX_BATCH_SIZE", "true / 8",
            "requests are served one at a time: concurrent clients queue behind each other (fine for one user)"))
    elif dev == "cpu" and s.mistral_max_batch_size > 4 * f.threads:
        out.append(Recommendation(
            "consider", "MISTRAL_MAX_BATCH_SIZE", str(4 * f.threads),
            f"{s.mistral_max_batch_size} sequences on {f.threads} CPU threads: CPU decode is compute-bound once "
            f"batched (8 streams gave 111 tok/s against 80-98 for one on 2 cores, {ENGINE_NOTES}), so more slots "
            "mostly add inter-token latency; measure with `frontier bench --concurrency`"))
    if s.mistral_prefix_cache_n == 0:
        out.append(Recommendation(
            "consider", "MISTRAL_PREFIX_CACHE_N", "16",
            "the prefix cache is off: every chat turn prefills its whole history again; with multi-turn traffic "
            "(chat UIs, Aider) the cache skips the shared prefix (`frontier bench --multi-turn 4` measures it)"))
    if f.hardware.nvidia_gpu and dev == "cpu":
        fix = "true" if not s.enable_cuda else "install a CUDA build of mistralrs"
        out.append(Recommendation(
            "change", "ENABLE_CUDA", fix,
            "an NVIDIA GPU is present but the engine runs on the CPU: " + (f.device.reason if not f.device.warnings
                                                                        else "; ".join(f.device.warnings))))
    if dev in ("cuda", "metal"):
        # Checked in src/frontier/engine/mistralrs/engine.py: the Runner is built without paged-attention or
        # memory arguments, so these variables are reported, not applied, until the adapter passes them.
        out.append(Recommendation(
            "info", "MISTRAL_MEMORY_FRACTION / MISTRAL_ENABLE_MEMORY_POOLING / MISTRAL_USE_FLASH_ATTENTION", "-",
            "this version does not pass them to mistralrs.Runner: the KV cache and attention kernels follow the "
            "engine build's defaults (flash attention is compiled into CUDA wheels, not switched at run time)"))
    if s.mistral_log_level in ("debug", "trace"):
        out.append(Recommendation(
            "change", "MISTRAL_LOG_LEVEL", "info", "debug/trace logging writes per-request and per-step lines"))
    if f.machine in ("x86_64", "AMD64") and dev == "cpu" and "avx2" not in f.simd:
        out.append(Recommendation(
            "info", "(hardware)", "-", "this CPU has no AVX2: the engine's quantized kernels fall back to slower "
            "paths; expect far lower tokens/s than the documented numbers"))
    if dev == "cpu" and "avx512f" in f.simd and "generic" in f.engine_build:
        out.append(Recommendation(
            "info", "(engine build)", "-", "the PyPI wheel targets generic x86-64 and detects AVX2/AVX-512 at "
            "run time only where its kernels do; a native build (RUSTFLAGS='-C target-cpu=native') may be "
            "faster: unmeasured here"))
    return out


def facts_dict(f: Facts, recs: list[Recommendation]) -> dict[str, object]:
    meta = f.model_meta
    return {
        "platform": {"system": f.system, "machine": f.machine, "cpu": f.cpu_model, "logical_cores": f.logical_cores,
                     "usable_cores": f.usable_cores, "simd": f.simd, "nvidia_gpu": f.hardware.nvidia_gpu},
        "acceleration": {"device": f.device.device, "reason": f.device.reason, "warnings": f.device.warnings},
        "engine": {"mistralrs": f.engine_version, "llama_cpp_python": f.llamacpp_version,
                   "serves_configured_model": f.engine_choice, "build": f.engine_build,
                   "builds": sorted(f.hardware.engine_builds)},
        "threads": {"rayon_num_threads": f.rayon_threads, "in_effect": f.threads},
        "model": None if meta is None else {"path": str(f.settings.model_path()), "format": meta.format,
                                            "quantization": meta.quantization, "simd_kernel": meta.has_simd_kernel,
                                            "isq": f.isq, "size_bytes": meta.size_bytes},
        "model_error": f.model_error or None,
        "settings": [{"variable": e.variable, "value": e.value, "applies": e.applies, "detail": e.detail}
                     for e in f.effects if e.variable in PERF_VARIABLES],
        "recommendations": [{"level": r.level, "variable": r.variable, "suggestion": r.suggestion,
                             "reason": r.reason} for r in recs],
    }
