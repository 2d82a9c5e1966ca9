"""Builds the configured engine: a pool over the models folder, each loaded model on the engine that serves
it best (engine/choice.py), the choice and its reason logged when the model loads."""

from __future__ import annotations

import logging

from frontier.config import Settings
from frontier.engine.choice import EngineChoice, EngineRefused, choose_engine
from frontier.engine.device import DeviceChoice, choose_device, detect_hardware
from frontier.engine.llamacpp import native as llamacpp_native
from frontier.engine.mistralrs.engine import MistralRsEngine
from frontier.engine.pool import EnginePool
from frontier.engine.protocol import Engine
from frontier.errors import ModelLoadError
from frontier.models.inspect import read_meta
from frontier.models.registry import ModelRegistry, ModelSpec, configured_spec

log = logging.getLogger("frontier.engine")


def engine_choice(settings: Settings, device: DeviceChoice, spec: ModelSpec) -> EngineChoice:
    architecture = ""
    if spec.model_type == "gguf" and spec.path.is_file():
        try:
            architecture = read_meta(spec.path).architecture
        except ModelLoadError:
            architecture = ""  # the engine's own load reports the damage
    installed = llamacpp_native.available()
    try:
        return choose_engine(
            settings.mistral_engine, model_type=spec.model_type, architecture=architecture,
            device=device.device, llamacpp_installed=installed,
            llamacpp_gpu=installed and device.device != "cpu" and llamacpp_native.gpu_offload_supported(),
            isq_requested=settings.isq not in (None, "auto"),
        )
    except EngineRefused as exc:
        raise ModelLoadError(f"{spec.id}: {exc}") from None


def engine_for(settings: Settings, device: DeviceChoice, spec: ModelSpec) -> Engine:
    choice = engine_choice(settings, device, spec)
    log.info("engine for %s: %s (%s)", spec.id, choice.engine, choice.reason)
    if choice.engine == "llamacpp":
        from frontier.engine.llamacpp.engine import LlamaCppEngine

        return LlamaCppEngine(settings, device, spec)
    return MistralRsEngine(settings, device, spec)


def build_engine(settings: Settings) -> EnginePool:
    device = choose_device(settings, detect_hardware())
    registry = ModelRegistry(settings.mistral_models_path, configured_spec(settings))
    return EnginePool(
        registry,
        lambda spec: engine_for(settings, device, spec),
        max_loaded=settings.mistral_max_loaded_models,
        memory_limit=settings.memory_limit_bytes,
        device=device.device,
    )
