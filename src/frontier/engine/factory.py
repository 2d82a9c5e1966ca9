"""Builds the configured engine."""

from __future__ import annotations

from frontier.config import Settings
from frontier.engine.device import choose_device, detect_hardware
from frontier.engine.mistralrs_engine import MistralRsEngine
from frontier.engine.protocol import Engine


def build_engine(settings: Settings) -> Engine:
    return MistralRsEngine(settings, choose_device(settings, detect_hardware()))
