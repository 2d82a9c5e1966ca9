"""Every CLI command that calls the APIs sends FRONTIER_API_KEY: status, the service health probes,
check aider, bench and perf-check, against the keyed live stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.ollama.conftest import MODEL, RunningLayer
from tests.security.conftest import SecuredStack, start_layer_with
from typer.testing import CliRunner

from frontier.cli.bench import _query_server
from frontier.cli.main import app
from frontier.config import Settings
from frontier.ollama.check_aider import run_checks
from frontier.service.services import OLLAMA, SERVER, probe, service_specs


@pytest.fixture(scope="module")
def closed_layer(secured: SecuredStack) -> Iterator[RunningLayer]:
    """A keyed layer whose health endpoints are closed too (FRONTIER_OPEN_HEALTH=false)."""
    settings = Settings(frontier_upstream_url=secured.server, frontier_api_key=secured.key,
                        frontier_open_health=False, _env_file=None)  # type: ignore[call-arg]
    layer = start_layer_with(settings)
    yield layer
    layer.stop()


def _env(secured: SecuredStack, layer_url: str, key: str, state: Path) -> dict[str, str]:
    return {"MISTRAL_API_PORT": str(httpx.URL(secured.server).port), "OLLAMA_API_PORT": str(httpx.URL(layer_url).port),
            "FRONTIER_API_KEY": key, "FRONTIER_STATE_DIR": str(state), "COLUMNS": "250"}


def test_closed_health_refuses_the_probe_without_the_key(secured: SecuredStack, closed_layer: RunningLayer) -> None:
    assert httpx.get(closed_layer.url + "/", timeout=10).status_code == 401
    settings = Settings(ollama_api_port=httpx.URL(closed_layer.url).port, _env_file=None)  # type: ignore[call-arg]
    keyless = {spec.name: spec for spec in service_specs(settings)}[OLLAMA]
    assert not probe(keyless).healthy and probe(keyless).status_code == 401
    keyed = {spec.name: spec for spec in service_specs(settings.model_copy(update={"frontier_api_key": secured.key}))}
    assert probe(keyed[OLLAMA]).healthy
    assert keyed[SERVER].headers == {"Authorization": f"Bearer {secured.key}"}


def test_frontier_status_sends_the_key(secured: SecuredStack, closed_layer: RunningLayer, tmp_path: Path) -> None:
    keyed = CliRunner().invoke(app, ["status"], env=_env(secured, closed_layer.url, secured.key, tmp_path))
    assert keyed.exit_code == 0, keyed.output
    assert MODEL in keyed.output  # the layer's /api/ps, which needs the key, named the loaded model
    keyless = CliRunner().invoke(app, ["status"], env=_env(secured, closed_layer.url, "", tmp_path))
    assert keyless.exit_code == 1 and "401" in keyless.output


def test_check_aider_sends_the_key(secured: SecuredStack, tmp_path: Path) -> None:
    refused = run_checks(secured.layer, MODEL, timeout=30)
    assert refused and not any(result.ok for result in refused)
    assert "401" in refused[0].detail
    # A full pass generates hundreds of tokens (minutes on a busy CPU); a model name the layer does not
    # know shows as cheaply that the key got through: every step gets past the check to a 404.
    result = CliRunner().invoke(app, ["check", "aider", "--url", secured.layer, "--model", "absent:1b"],
                                env=_env(secured, secured.layer, secured.key, tmp_path))
    assert "0/4 steps passed" in result.output, result.output
    assert "401" not in result.output and "not found" in result.output


def test_bench_and_perf_check_send_the_key(secured: SecuredStack, tmp_path: Path) -> None:
    env = _env(secured, secured.layer, secured.key, tmp_path)
    args = ["bench", "--url", secured.server, "--concurrency", "1", "--requests", "1", "--warmup", "0",
            "--prompt-tokens", "8", "--max-tokens", "2", "--fail-on-error"]
    keyed = CliRunner().invoke(app, args, env=env)
    assert keyed.exit_code == 0, keyed.output
    keyless = CliRunner().invoke(app, args, env={**env, "FRONTIER_API_KEY": ""})
    assert keyless.exit_code == 2 and "cannot list models" in keyless.output
    assert _query_server(secured.server, secured.key)["/v1/models"]["status"] == 200
    assert _query_server(secured.server, "")["/v1/models"]["status"] == 401
