"""Builds the configured engine: a pool over the models folder, one mistral.rs engine per loaded model."""

from __future__ import annotations

from frontier.config import Settings
from frontier.engine.device import choose_device, detect_hardware
from frontier.engine.mistralrs_engine import MistralRsEngine
from frontier.engine.pool import EnginePool
from frontier.models.registry import ModelRegistry, configured_spec


def build_engine(settings: Settings) -> EnginePool:
    device = choose_device(settings, detect_hardware())
    registry = ModelRegistry(settings.mistral_models_path, configured_spec(settings))
    return EnginePool(
        registry,
        lambda spec: MistralRsEngine(settings, device, spec),
        max_loaded=settings.mistral_max_loaded_models,
        memory_limit=settings.memory_limit_bytes,
        device=device.device,
    )
