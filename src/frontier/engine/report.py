"""What each setting does on this platform: applied, or not applicable and why. Printed at start-up so that
no variable is silently ignored."""

from __future__ import annotations

from dataclasses import dataclass

from frontier.config import Settings
from frontier.engine.device import DeviceChoice


@dataclass(frozen=True, slots=True)
class SettingEffect:
    variable: str
    value: str
    applies: bool
    detail: str


def setting_effects(s: Settings, device: DeviceChoice) -> list[SettingEffect]:
    dev = device.device
    gpu = dev in ("cuda", "metal")
    batch = s.slots
    isq = s.isq
    effects = [
        SettingEffect("MISTRAL_HOST", s.mistral_host, True, "server bind address"),
        SettingEffect("MISTRAL_API_PORT", str(s.mistral_api_port), True, "server port"),
        SettingEffect("MISTRAL_MODELS_PATH", str(s.mistral_models_path), True, "models folder"),
        SettingEffect("MISTRAL_MODEL_TYPE", s.mistral_model_type, True, "loader used for the model"),
        SettingEffect("MISTRAL_MODEL_ID", s.mistral_model_id, True, f"served model: {s.model_path()}"),
        SettingEffect("MISTRAL_LOG_LEVEL", s.mistral_log_level, True, "server and engine log level"),
        SettingEffect(
            "MISTRAL_MAX_BATCH_SIZE", str(s.mistral_max_batch_size), s.mistral_enable_continuous_batching,
            f"up to {batch} sequences decode together" if s.mistral_enable_continuous_batching
            else "not applicable: continuous batching is off, requests run one at a time",
        ),
        SettingEffect(
            "MISTRAL_ENABLE_CONTINUOUS_BATCHING", str(s.mistral_enable_continuous_batching).lower(), True,
            f"{batch} concurrent sequence(s); new requests admitted one prefill at a time",
        ),
        SettingEffect(
            "MISTRAL_PREFIX_CACHE_N", str(s.mistral_prefix_cache_n), True,
            "prefix cache disabled" if s.mistral_prefix_cache_n == 0
            else f"{s.mistral_prefix_cache_n} sequences kept for prefix reuse",
        ),
        SettingEffect("MISTRAL_MAX_SEQ_LEN", str(s.mistral_max_seq_len), True,
                      "context budget per request (capped by the model's own context)"),
        SettingEffect(
            "MISTRAL_DEFAULT_QUANTIZATION", s.mistral_default_quantization, True,
            "q8_0 at load for GGUF types without a SIMD CPU kernel, else as shipped" if isq == "auto"
            else ("no in-situ quantization" if isq is None else f"weights re-quantized to {isq} at load"),
        ),
        SettingEffect("MISTRAL_MEMORY_LIMIT", s.mistral_memory_limit, True,
                      "models larger than this are refused at load (and the container limit under Docker)"),
        SettingEffect("MISTRAL_MEMORY_RESERVATION", s.mistral_memory_reservation, False,
                      "not applicable natively: a Docker Compose mem_reservation only"),
        SettingEffect("MISTRAL_MEMORY_FRACTION", str(s.mistral_memory_fraction), gpu,
                      "GPU memory share for the paged KV cache" if gpu
                      else "not applicable on CPU: paged attention is CUDA/Metal only"),
        SettingEffect("MISTRAL_ENABLE_MEMORY_POOLING", str(s.mistral_enable_memory_pooling).lower(), gpu,
                      "paged KV-cache pool" if gpu else "not applicable on CPU: paged attention is CUDA/Metal only"),
        SettingEffect("MISTRAL_USE_FLASH_ATTENTION", str(s.mistral_use_flash_attention).lower(), dev == "cuda",
                      "flash attention (a feature of the CUDA engine build)" if dev == "cuda"
                      else f"not applicable on {dev}: flash attention is a CUDA build feature"),
        SettingEffect("MISTRAL_METAL_HEAP_SIZE", str(s.mistral_metal_heap_size or "unset"), dev == "metal",
                      "Metal heap size" if dev == "metal" else f"not applicable on {dev}: Metal only"),
        SettingEffect("MISTRAL_DEVICE", s.mistral_device, True, f"device: {dev} ({device.reason})"),
        SettingEffect("MISTRAL_ENGINE", s.mistral_engine, True,
                      "engine per model: see the 'engine for <model>' line at each load (docs/engines.md)"),
        SettingEffect("MISTRAL_THREADS", str(s.mistral_threads), True,
                      f"llama.cpp engine threads: {s.mistral_threads or 'every usable core'}"),
        SettingEffect("MISTRAL_KV_LAYOUT", s.mistral_kv_layout, True,
                      {"auto": "llama.cpp KV: a context per slot where it fits in 2 GiB, else one shared pool",
                       "split": "llama.cpp KV: a whole context per slot", "unified": "llama.cpp KV: one shared pool"}
                      [s.mistral_kv_layout]),
        SettingEffect("MISTRAL_ADAPTIVE_THREADS", str(s.mistral_adaptive_threads).lower(), dev == "cpu",
                      "fewer llama.cpp threads while other processes hold cores" if s.mistral_adaptive_threads
                      else "llama.cpp threads fixed at MISTRAL_THREADS"),
        SettingEffect("ENABLE_METAL", str(s.enable_metal).lower(), True,
                      "considered for Apple silicon" + ("" if dev == "metal" else f"; chose {dev}")),
        SettingEffect("ENABLE_CUDA", str(s.enable_cuda).lower(), True,
                      "considered for NVIDIA GPUs" + ("" if dev == "cuda" else f"; chose {dev}")),
        SettingEffect("MISTRAL_SEED", str(s.mistral_seed), True,
                      "engine-wide sampling seed" if s.mistral_seed is not None else "random seed"),
        SettingEffect("MISTRAL_MAX_LOADED_MODELS", str(s.mistral_max_loaded_models), True,
                      f"up to {s.mistral_max_loaded_models} model(s) loaded at once; others load on demand, "
                      "least recently used unloaded first"),
        SettingEffect("FRONTIER_CATALOG", str(s.frontier_catalog or "unset"), True,
                      f"catalog entries added from {s.frontier_catalog}" if s.frontier_catalog
                      else "the built-in model catalog"),
    ]
    return effects
