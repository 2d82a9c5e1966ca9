"""`frontier validate-config` on good and bad configurations: the checks one by one, and the command end to end
(a child process in a folder with its own .env, as a user runs it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS, free_port

from frontier.config import Settings
from frontier.service.services import service_specs
from frontier.service.state import StateDir
from frontier.service.validate import check_disk, check_env_file, check_memory, check_model, check_ports

GiB = 1024**3


def _settings(**values: object) -> Settings:
    return Settings(mistral_models_path=MODELS, **values)  # type: ignore[arg-type]


def test_env_file_typo_is_a_warning_naming_the_variable_it_meant(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("MISTRAL_API_PROT=9000\nMISTRAL_LOG_LEVEL=debug\nUNRELATED=1\nJUSTANAME\n")
    findings = check_env_file(env)
    warnings = [f for f in findings if f.level == "warning"]
    assert any("MISTRAL_API_PROT" in f.message and "MISTRAL_API_PORT" in f.fix for f in warnings)
    assert any("'JUSTANAME'" in f.message for f in warnings)
    assert not any("UNRELATED" in f.message or "MISTRAL_LOG_LEVEL" in f.message for f in findings)


def test_missing_env_file_is_fine_and_says_how_to_make_one(tmp_path: Path) -> None:
    [finding] = check_env_file(tmp_path / ".env")
    assert finding.level == "ok" and "cp .env.example .env" in finding.fix


def test_present_model_reports_its_size_from_its_own_metadata() -> None:
    findings, size = check_model(_settings())
    assert [f.level for f in findings] == ["ok"]
    assert size == (MODELS / DEFAULT_MODEL).stat().st_size
    assert "llama" in findings[0].message and "Q4_1" in findings[0].message


def test_missing_catalog_model_points_at_fetch_default(tmp_path: Path) -> None:
    findings, size = check_model(Settings(mistral_models_path=tmp_path))
    assert size == 0 and findings[0].level == "error"
    assert "not found" in findings[0].message and "frontier models fetch-default" in findings[0].fix


def test_unknown_missing_model_points_at_download(tmp_path: Path) -> None:
    findings, _ = check_model(Settings(mistral_models_path=tmp_path, mistral_model_id="nothing-here.gguf"))
    assert findings[0].level == "error" and "frontier models download" in findings[0].fix


def test_truncated_model_is_an_error(tmp_path: Path) -> None:
    data = (MODELS / DEFAULT_MODEL).read_bytes()
    (tmp_path / DEFAULT_MODEL).write_bytes(data[: len(data) // 2])
    findings, _ = check_model(Settings(mistral_models_path=tmp_path))
    assert findings[0].level == "error" and "truncated" in findings[0].message


def test_model_over_the_memory_limit_is_an_error_as_the_engine_would_refuse_it() -> None:
    findings = check_memory(_settings(mistral_memory_limit="50M", mistral_memory_reservation="10M"),
                            98 * 1024**2, total=64 * GiB, available=32 * GiB)
    assert [f.level for f in findings] == ["error"]
    assert "MISTRAL_MEMORY_LIMIT=50M" in findings[0].message and "refuse" in findings[0].message


def test_reservation_over_limit_and_limit_over_ram_and_model_over_free_memory() -> None:
    findings = check_memory(_settings(mistral_memory_limit="8G", mistral_memory_reservation="16G"),
                            4 * GiB, total=6 * GiB, available=2 * GiB)
    by_level = {(f.level, f.message.split()[0]) for f in findings}
    assert ("error", "MISTRAL_MEMORY_RESERVATION=16G") in by_level
    assert ("warning", "MISTRAL_MEMORY_LIMIT=8G") in by_level  # more than 6 GiB of RAM
    assert any(f.level == "warning" and "available" in f.message for f in findings)


def test_memory_within_limits_is_ok() -> None:
    findings = check_memory(_settings(mistral_memory_limit="4G", mistral_memory_reservation="1G"),
                            100 * 1024**2, total=16 * GiB, available=8 * GiB)
    assert [f.level for f in findings] == ["ok"]


def test_low_disk_space_is_a_warning(tmp_path: Path) -> None:
    assert check_disk(tmp_path, free_bytes=100 * 1024**2)[0].level == "warning"
    assert check_disk(tmp_path, free_bytes=100 * GiB)[0].level == "ok"


def test_taken_port_is_an_error_naming_the_holder(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        settings = _settings(mistral_api_port=taken, ollama_api_port=free_port())
        findings = check_ports(service_specs(settings), StateDir(tmp_path))
    [error] = [f for f in findings if f.level == "error"]
    assert f"MISTRAL_API_PORT={taken} is taken" in error.message
    assert f"pid {os.getpid()}" in error.message  # the OS tells: this very test process holds it
    assert [f.level for f in findings].count("ok") == 1


def test_same_port_for_both_services_is_an_error(tmp_path: Path) -> None:
    port = free_port()
    findings = check_ports(service_specs(_settings(mistral_api_port=port, ollama_api_port=port)), StateDir(tmp_path))
    assert [f.level for f in findings] == ["error"]


# --- the command, end to end --------------------------------------------------------------------------------

def _validate(folder: Path, env_text: str, **env: str) -> subprocess.CompletedProcess[str]:
    (folder / ".env").write_text(env_text)
    full_env = {**os.environ, "MISTRAL_MODELS_PATH": str(MODELS), "MISTRAL_API_PORT": str(free_port()),
                "OLLAMA_API_PORT": str(free_port()), "FRONTIER_STATE_DIR": str(folder / "state"), **env}
    for name in list(full_env):  # the folder's .env is the configuration under test, not the caller's
        if name.startswith(("MISTRAL_MEMORY", "MISTRAL_MODEL_ID")):
            full_env.pop(name)
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "frontier", "validate-config"], cwd=folder, capture_output=True,
                          text=True, timeout=120, env=full_env)


def test_validate_config_passes_on_a_good_configuration(tmp_path: Path) -> None:
    result = _validate(tmp_path, "MISTRAL_MEMORY_LIMIT=1G\nMISTRAL_MEMORY_RESERVATION=512M\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout
    assert f"model {DEFAULT_MODEL}" in result.stdout and "will run on cpu" in result.stdout


@pytest.mark.parametrize(
    ("env_text", "expected"),
    [
        ("MISTRAL_MEMORY_LIMIT=20M\nMISTRAL_MEMORY_RESERVATION=10M\n", "over MISTRAL_MEMORY_LIMIT=20M"),
        ("MISTRAL_MODEL_ID=absent.gguf\n", "MISTRAL_MODEL_ID=absent.gguf not found"),
        ("MISTRAL_MAX_BATCH_SIZE=lots\n", "MISTRAL_MAX_BATCH_SIZE='lots'"),
        ("MISTRAL_MEMORY_RESERVATION=128G\nMISTRAL_MEMORY_LIMIT=64G\n", "MISTRAL_MEMORY_RESERVATION=128G is over"),
    ],
)
def test_validate_config_fails_on_a_bad_configuration(tmp_path: Path, env_text: str, expected: str) -> None:
    result = _validate(tmp_path, env_text)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout
    assert "fix:" in result.stdout and "Traceback" not in result.stderr


def test_validate_config_reports_a_taken_port_with_its_holder(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _validate(tmp_path, "MISTRAL_MEMORY_LIMIT=1G\nMISTRAL_MEMORY_RESERVATION=512M\n",
                           OLLAMA_API_PORT=str(port))
    assert result.returncode == 1
    assert f"OLLAMA_API_PORT={port} is taken on 127.0.0.1 by pid {os.getpid()}" in result.stdout


def test_validate_config_script_runs_the_command(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([shutil.which("bash") or "bash", str(repo / "scripts" / "validate-config.sh")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MISTRAL_MODELS_PATH": str(tmp_path / "none"),
                                 "MISTRAL_API_PORT": str(free_port()), "OLLAMA_API_PORT": str(free_port())})
    assert result.returncode == 1 and "not found" in result.stdout
