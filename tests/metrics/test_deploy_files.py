"""The shipped monitoring files: valid for promtool, alerts that fire when they should, a dashboard whose
every query names a metric the live services export, and compose mounts that point at real files."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import REPO
from tests.metrics.prom import MONITORING, require_tool
from tests.metrics.stack import Stack, exported_names

HERE = Path(__file__).resolve().parent
DASHBOARD = MONITORING / "grafana" / "dashboards" / "frontier.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "frontier.yml"
# A PromQL identifier; the frontier_ ones must be exported, the rest are functions, keywords or `up`.
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABELS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, grouping lists and strings removed first)."""
    bare = _GROUPING.sub(" ", _LABELS.sub(" ", re.sub(r'"[^"]*"', " ", expr)))
    bare = re.sub(r"\[[^\]]*\]", " ", bare)  # range selectors such as [5m] or [$__rate_interval]
    return {name for name in _NAME.findall(bare) if name.startswith("frontier_") or name == "up"}


def test_metric_names_reads_names_not_labels_or_functions() -> None:
    expr = 'histogram_quantile(0.95, sum by (job, le) (rate(frontier_x_bucket{endpoint!~"/a|frontier_y"}[5m])))'
    assert metric_names(expr) == {"frontier_x_bucket"}
    assert metric_names('up{job="frontier-mistral"} == 0') == {"up"}


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    # The config names the rule file where the container mounts it; checked here against the repo's copy.
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = _run(require_tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {"frontier-mistral": ["frontier-mistral:8080"], "frontier-ollama": ["frontier-ollama:11434"]}


def test_promtool_accepts_the_alert_rules() -> None:
    result = _run(require_tool("promtool"), "check", "rules", str(MONITORING / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_alerts_fire_on_their_conditions_and_not_on_healthy_series() -> None:
    result = _run(require_tool("promtool"), "test", "rules", "alerts_test.yml", cwd=HERE)
    assert result.returncode == 0, result.stdout + result.stderr


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def test_dashboard_is_valid_json_on_the_provisioned_datasource() -> None:
    dashboard = _dashboard()
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    assert panels and len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]
    [provider] = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("throughput", "latency", "first token", "tokens", "errors", "loaded models"):
        assert topic in titles, topic


def test_every_dashboard_and_alert_query_names_an_exported_metric(metrics_stack: Stack) -> None:
    exported = exported_names(metrics_stack.server.url) | exported_names(metrics_stack.proxy.url) | {"up"}
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]]
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) > 20
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, names - exported)


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of a compose service's bind mounts, short or long syntax."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/")):
                out.append((parts[0], parts[1]))
        elif isinstance(volume, dict) and volume.get("type", "bind") == "bind" and "source" in volume:
            out.append((str(volume["source"]), str(volume["target"])))
    return out


def _host_file(mounts: list[tuple[str, str]], container_file: str) -> Path | None:
    """The host file a container path resolves to through the mounts (file or folder mounts)."""
    for host, target in mounts:
        target = target.rstrip("/")
        if container_file == target or container_file.startswith(target + "/"):
            return (REPO / host / container_file[len(target):].lstrip("/")).resolve()
    return None


def test_compose_mounts_point_at_the_shipped_files() -> None:
    compose_path = REPO / "docker-compose.yml"
    if not compose_path.exists():
        pytest.skip("docker-compose.yml is not on this branch (it comes with the deployment work)")
    services = yaml.safe_load(compose_path.read_text())["services"]
    for name in ("prometheus", "grafana"):
        for host, _ in _mounts(services[name]):
            assert (REPO / host).exists(), f"{name} mounts {host}, which does not exist"
    prometheus, grafana = _mounts(services["prometheus"]), _mounts(services["grafana"])
    expected = {
        (MONITORING / "prometheus.yml"): _host_file(prometheus, "/etc/prometheus/prometheus.yml"),
        (MONITORING / "alerts.yml"): _host_file(prometheus, "/etc/prometheus/alerts.yml"),
        DATASOURCES: _host_file(grafana, "/etc/grafana/provisioning/datasources/prometheus.yml"),
        PROVIDERS: _host_file(grafana, "/etc/grafana/provisioning/dashboards/frontier.yml"),
        DASHBOARD: _host_file(grafana, "/var/lib/grafana/dashboards/frontier.json"),
    }
    for shipped, mounted in expected.items():
        assert mounted == shipped.resolve(), f"{shipped.relative_to(REPO)} is not mounted where it is read"
