"""Small pieces the download modules share: the per-source failure and the free-space check."""

from __future__ import annotations

import shutil
from pathlib import Path

from frontier.errors import DownloadError


class SourceError(DownloadError):
    """One source could not deliver the file. `unreachable`: no connection could be made at all."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def ensure_free_space(folder: Path, needed: int) -> None:
    """Refuses to start a transfer the disk cannot hold, rather than failing hours in with ENOSPC."""
    if needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(
            f"not enough free disk space in {folder}: the download needs {human_size(needed)}, "
            f"only {human_size(free)} is free"
        )
