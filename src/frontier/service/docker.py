"""`frontier start|stop --docker`: the stack as Docker Compose services. The command lines are built by pure
functions (tested without a Docker engine); the CUDA override is added when the platform has an NVIDIA GPU."""

from __future__ import annotations

from frontier.config import Settings
from frontier.engine.device import Hardware

COMPOSE_FILE = "docker-compose.yml"
CUDA_OVERRIDE = "docker-compose.cuda.yml"


def use_cuda(settings: Settings, hw: Hardware, requested: bool | None) -> tuple[bool, str]:
    """Whether to add the CUDA override, and why. `requested`: --cuda / --no-cuda, None for auto-detection.

    The container's engine build is chosen by the image, not the host's Python, so the host's installed wheel
    does not matter here: only the GPU (the NVIDIA container toolkit exposes it) and an explicit device."""
    if requested is False:
        return False, "--no-cuda"
    if settings.mistral_device in ("cpu", "metal"):
        if requested:
            return True, "--cuda (over MISTRAL_DEVICE=" + settings.mistral_device + ")"
        return False, f"MISTRAL_DEVICE={settings.mistral_device}"
    if requested:
        return True, "--cuda"
    if hw.nvidia_gpu:
        return True, "an NVIDIA GPU is present"
    return False, "no NVIDIA GPU found"


def compose_command(action: list[str], cuda: bool, docker: str = "docker") -> list[str]:
    """`docker compose -f docker-compose.yml [-f docker-compose.cuda.yml] <action>`, run in the folder holding
    the compose files (Compose reads `.env` there for interpolation)."""
    files = ["-f", COMPOSE_FILE] + (["-f", CUDA_OVERRIDE] if cuda else [])
    return [docker, "compose", *files, *action]


def up_command(cuda: bool, build: bool = False) -> list[str]:
    return compose_command(["up", "-d", *(["--build"] if build else [])], cuda)


def down_command(cuda: bool) -> list[str]:
    return compose_command(["down"], cuda)
