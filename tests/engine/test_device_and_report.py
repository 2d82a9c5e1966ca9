"""Platform detection and the start-up report: every setting either applies or says why it cannot."""

from __future__ import annotations

import pytest

from frontier.config import Settings
from frontier.engine.device import Hardware, choose_device
from frontier.engine.report import setting_effects

LINUX_CPU = Hardware("Linux", "x86_64", nvidia_gpu=False, engine_builds=frozenset({"cpu"}))
LINUX_GPU_CPU_WHEEL = Hardware("Linux", "x86_64", nvidia_gpu=True, engine_builds=frozenset({"cpu"}))
LINUX_GPU_CUDA_WHEEL = Hardware("Linux", "x86_64", nvidia_gpu=True, engine_builds=frozenset({"cpu", "cuda"}))
MAC = Hardware("Darwin", "arm64", nvidia_gpu=False, engine_builds=frozenset({"cpu", "metal"}))


@pytest.mark.parametrize(
    ("hw", "settings", "device", "reason_words"),
    [
        (LINUX_CPU, {}, "cpu", "no NVIDIA GPU"),
        (MAC, {}, "metal", "Apple silicon"),
        (MAC, {"enable_metal": False}, "cpu", "ENABLE_METAL=false"),
        (LINUX_GPU_CUDA_WHEEL, {"enable_cuda": True}, "cuda", "NVIDIA GPU"),
        (LINUX_GPU_CUDA_WHEEL, {}, "cpu", "ENABLE_CUDA=false"),
        (LINUX_GPU_CUDA_WHEEL, {"mistral_device": "cpu"}, "cpu", "MISTRAL_DEVICE=cpu"),
    ],
)
def test_device_choice_and_reason(hw: Hardware, settings: dict, device: str, reason_words: str) -> None:
    choice = choose_device(Settings(**settings), hw)
    assert choice.device == device
    assert reason_words in choice.reason
    assert choice.warnings == []


def test_cuda_without_a_cuda_engine_build_says_what_to_install_and_falls_back() -> None:
    choice = choose_device(Settings(enable_cuda=True), LINUX_GPU_CPU_WHEEL)
    assert choice.device == "cpu"
    assert "cuda128" in choice.warnings[0] and "falling back to CPU" in choice.warnings[0]


def test_forced_device_without_hardware_falls_back_with_a_warning() -> None:
    assert "no NVIDIA GPU" in choose_device(Settings(mistral_device="cuda"), LINUX_CPU).warnings[0]
    assert "not Apple silicon" in choose_device(Settings(mistral_device="metal"), LINUX_CPU).warnings[0]


def test_report_covers_every_variable() -> None:
    effects = setting_effects(Settings(), choose_device(Settings(), LINUX_CPU))
    names = {e.variable for e in effects}
    server_fields = {n.upper() for n in Settings.model_fields if not n.startswith(("ollama", "frontier", "proxy"))}
    assert server_fields <= names


@pytest.mark.parametrize(
    "variable",
    ["MISTRAL_USE_FLASH_ATTENTION", "MISTRAL_METAL_HEAP_SIZE", "MISTRAL_MEMORY_FRACTION",
     "MISTRAL_ENABLE_MEMORY_POOLING", "MISTRAL_MEMORY_RESERVATION"],
)
def test_gpu_only_settings_are_reported_not_applicable_on_cpu(variable: str) -> None:
    effects = {e.variable: e for e in setting_effects(Settings(), choose_device(Settings(), LINUX_CPU))}
    assert not effects[variable].applies
    assert "not applicable" in effects[variable].detail


def test_gpu_settings_apply_on_cuda() -> None:
    s = Settings(enable_cuda=True)
    effects = {e.variable: e for e in setting_effects(s, choose_device(s, LINUX_GPU_CUDA_WHEEL))}
    assert effects["MISTRAL_USE_FLASH_ATTENTION"].applies and effects["MISTRAL_MEMORY_FRACTION"].applies
    assert not effects["MISTRAL_METAL_HEAP_SIZE"].applies


def test_batch_size_is_not_applicable_without_continuous_batching() -> None:
    s = Settings(mistral_enable_continuous_batching=False)
    effects = {e.variable: e for e in setting_effects(s, choose_device(s, LINUX_CPU))}
    assert not effects["MISTRAL_MAX_BATCH_SIZE"].applies
    assert "one at a time" in effects["MISTRAL_MAX_BATCH_SIZE"].detail
