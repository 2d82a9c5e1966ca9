"""Which device the engine runs on, and why.

Detection order: MISTRAL_DEVICE when not `auto`; else Metal on Apple silicon when ENABLE_METAL; else CUDA when
ENABLE_CUDA and an NVIDIA GPU is present; else CPU. The installed mistral.rs wheel decides what is actually
possible: PyPI's `mistralrs` is a CPU build on Linux (Metal on macOS), CUDA needs the project's CUDA wheels.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from frontier.config import Settings

CUDA_INSTALL_HINT = (
    "install a CUDA build of the engine: pip install 'mistralrs==<version>+cuda128.sm<cc>' --find-links "
    "<mistral.rs release assets> (PyPI's mistralrs-cuda is stale)"
)


@dataclass(frozen=True, slots=True)
class Hardware:
    system: str
    machine: str
    nvidia_gpu: bool
    engine_builds: frozenset[str]  # subset of {"cpu", "cuda", "metal"}


@dataclass(slots=True)
class DeviceChoice:
    device: str
    reason: str
    warnings: list[str] = field(default_factory=list)


def engine_builds(system: str) -> frozenset[str]:
    """What the installed mistralrs distribution can run on. CUDA builds carry `cuda` in the distribution
    name or the local version label (`0.9.5+cuda128.sm89`)."""
    builds = {"cpu"}
    for dist in ("mistralrs", "mistralrs-cuda", "mistralrs-metal"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        if "cuda" in dist or "cuda" in version:
            builds.add("cuda")
        if "metal" in dist or system == "Darwin":
            builds.add("metal")
    return frozenset(builds)


def _has_nvidia_gpu() -> bool:
    if Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir()):
        return True
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def detect_hardware() -> Hardware:
    system = platform.system()
    return Hardware(
        system=system,
        machine=platform.machine(),
        nvidia_gpu=_has_nvidia_gpu(),
        engine_builds=engine_builds(system),
    )


def choose_device(settings: Settings, hw: Hardware) -> DeviceChoice:
    apple_silicon = hw.system == "Darwin" and hw.machine == "arm64"
    if settings.mistral_device != "auto":
        wanted, why = settings.mistral_device, f"MISTRAL_DEVICE={settings.mistral_device}"
    elif settings.enable_metal and apple_silicon:
        wanted, why = "metal", "Apple silicon and ENABLE_METAL=true"
    elif settings.enable_cuda and hw.nvidia_gpu:
        wanted, why = "cuda", "ENABLE_CUDA=true and an NVIDIA GPU is present"
    else:
        reasons = []
        if not apple_silicon:
            reasons.append("not Apple silicon")
        elif not settings.enable_metal:
            reasons.append("ENABLE_METAL=false")
        if not hw.nvidia_gpu:
            reasons.append("no NVIDIA GPU")
        elif not settings.enable_cuda:
            reasons.append("ENABLE_CUDA=false")
        wanted, why = "cpu", ", ".join(reasons)
    choice = DeviceChoice(device=wanted, reason=why)
    if wanted == "cuda" and not hw.nvidia_gpu:
        choice.warnings.append("CUDA requested but no NVIDIA GPU was found; falling back to CPU")
        choice.device = "cpu"
    elif wanted == "metal" and not apple_silicon:
        choice.warnings.append("Metal requested but this is not Apple silicon; falling back to CPU")
        choice.device = "cpu"
    elif wanted not in hw.engine_builds:
        hint = CUDA_INSTALL_HINT if wanted == "cuda" else "install mistralrs on macOS (its wheel includes Metal)"
        choice.warnings.append(f"the installed engine build cannot use {wanted}: {hint}; falling back to CPU")
        choice.device = "cpu"
    return choice
