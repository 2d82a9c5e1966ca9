"""Model aliases (`/api/copy`, `frontier models cp`): extra names for a model in the models folder.

Kept in `<models>/.aliases.json` ({"alias": "model id"}), written atomically (temporary file + rename) under
an flock, so concurrent copies from several processes never lose each other's entries or leave a torn file.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from frontier.errors import InvalidRequestError

FILE_NAME = ".aliases.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")


def read_aliases(models_path: Path) -> dict[str, str]:
    try:
        data = json.loads((models_path / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def check_alias(alias: str) -> str:
    """An alias is a name (Ollama's `[namespace/]model[:tag]`), never a path."""
    text = alias.strip()
    if not _NAME.fullmatch(text) or ".." in text:
        raise InvalidRequestError(
            f"invalid model name {alias!r}: letters, digits and . _ - : / only, starting with a letter or digit",
            param="destination",
        )
    return text


def update_aliases(models_path: Path, change: Callable[[dict[str, str]], object]) -> dict[str, str]:
    """Applies `change` to the alias table under the lock and writes the result; returns it."""
    models_path.mkdir(parents=True, exist_ok=True)
    with _locked(models_path):
        table = read_aliases(models_path)
        change(table)
        fd, tmp = tempfile.mkstemp(prefix=".aliases.", dir=models_path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(table, out, indent=1, sort_keys=True)
            os.replace(tmp, models_path / FILE_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return table


@contextmanager
def _locked(models_path: Path) -> Iterator[None]:
    with (models_path / (FILE_NAME + ".lock")).open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
