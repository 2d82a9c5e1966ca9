"""The stack the fuzz runs hit: the real server with a tiny context and the real `frontier proxy` in front of it,
both child processes, so a crash shows as a process that exited.

`MISTRAL_MAX_SEQ_LEN=48` keeps every valid generation short (the real engine runs ~50 tokens/s here), so a
thousand generated requests per API fit a CI-sized run. The models folder is a scratch folder holding a hard link to
the default model: the fuzzers call delete, copy and pull, which must not touch the repository's `models/`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS
from tests.fuzz.stack import FuzzStack
from tests.metrics.stack import start_proxy

FUZZ_ENV = {
    "MISTRAL_MAX_SEQ_LEN": "48",
    "FRONTIER_MAX_TOKENS": "16",  # the limits branch's cap; ignored where that setting does not exist yet
    "MISTRAL_LOG_LEVEL": "warning",
}


@pytest.fixture(scope="session")
def fuzz_stack(start_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:  # type: ignore[no-untyped-def]
    models = tmp_path_factory.mktemp("fuzz-models")
    try:  # a hard link costs nothing; a symlink would not do: the registry refuses paths that leave the folder
        os.link(MODELS / DEFAULT_MODEL, models / DEFAULT_MODEL)
    except OSError:
        shutil.copy2(MODELS / DEFAULT_MODEL, models / DEFAULT_MODEL)
    server = start_server({**FUZZ_ENV, "MISTRAL_MODELS_PATH": str(models)})
    proxy = start_proxy(server.url, tmp_path_factory.mktemp("fuzz-proxy"))
    yield FuzzStack(server, proxy, models)
    proxy.stop()
