"""Fixtures of the metrics tests: one live stack (server + layer) for the whole session."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.conftest import ServerProcess
from tests.metrics.stack import Stack, start_proxy


@pytest.fixture(scope="session")
def metrics_stack(
    start_server: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    server = start_server({"FRONTIER_LOG_FORMAT": "json", "MISTRAL_LOG_LEVEL": "info"})
    proxy = start_proxy(server.url, tmp_path_factory.mktemp("proxy"))
    yield Stack(server, proxy)
    proxy.stop()
