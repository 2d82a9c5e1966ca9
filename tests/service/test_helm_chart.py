"""The Helm chart, validated offline in both modes: Helm's own lint and render (helm-python-sdk, Helm's Go SDK
without a binary), the rendered Kubernetes objects against Kubernetes' schemas (`kubernetes-validate --strict`),
the RayService against KubeRay's CRD schema (v1.7.0, vendored: tests/cluster/rayservice-v1.schema.json.gz), and
values.schema.json refusing bad values."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (the test extra)")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "frontier"
CRD_SCHEMA = REPO / "tests" / "cluster" / "rayservice-v1.schema.json.gz"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    out = chart.render(values, name="demo", namespace="default", is_install=True)
    return [doc for text in out.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize("mode", ["deployment", "rayservice"])
def test_the_chart_lints_clean_in_each_mode(mode: str) -> None:
    report = helm.lint(CHART, {"mode": mode}, strict=True)
    assert report["errors"] == [] and not [m for m in report["messages"] if m["severity"] >= 2], report


def test_deployment_mode_serves_both_apis_with_probes_drain_and_the_models_volume(tmp_path: Path) -> None:
    docs = render({"mode": "deployment", "models": {"existingClaim": "models", "mountPath": "/models"},
                   "apiKeySecret": "frontier-key", "drainSeconds": 45})
    kinds = {doc["kind"]: doc for doc in docs}
    assert set(kinds) == {"Deployment", "Service"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["frontier", "serve", "--ollama"]
    assert pod["terminationGracePeriodSeconds"] == 60  # the 45 s drain and a margin
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"]: e for e in container["env"]}
    assert env["FRONTIER_DRAIN_SECONDS"]["value"] == "45" and env["MISTRAL_HOST"]["value"] == "0.0.0.0"
    assert env["FRONTIER_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "frontier-key", "key": "api-key"}
    assert pod["volumes"] == [{"name": "models", "persistentVolumeClaim": {"claimName": "models"}}]
    assert [p["port"] for p in kinds["Service"]["spec"]["ports"]] == [8080, 11434]
    files = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"{i}.yaml"
        path.write_text(yaml.safe_dump(doc))
        files.append(str(path))
    checked = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.31.0", *files],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _strict(schema: Any) -> Any:
    """KubeRay's schema with unknown fields refused (what the API server's field validation does)."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def test_rayservice_mode_renders_a_rayservice_kuberay_accepts() -> None:
    docs = render({"mode": "rayservice"})
    [service] = [doc for doc in docs if doc["kind"] == "RayService"]
    assert [doc["kind"] for doc in docs] == ["RayService"]  # KubeRay makes its own <name>-serve-svc
    schema = _strict(json.loads(gzip.decompress(CRD_SCHEMA.read_bytes())))
    jsonschema.Draft7Validator(schema).validate(service)
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert serve_config["applications"][0]["import_path"] == "frontier.cluster.app:build"
    broken = {**service, "spec": {**service["spec"], "serveConfigV3": "x"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


@pytest.mark.parametrize("values", [{"mode": "kubernetes"}, {"drainSeconds": -1}, {"service": {"openaiPort": 0}},
                                    {"replicas": 3}])
def test_values_the_schema_refuses_do_not_render(values: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="values|schema|additional"):  # noqa: B017 (Helm's values error)
        render(values)
