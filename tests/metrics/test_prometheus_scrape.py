"""A real Prometheus, with the repo's scrape config and alert rules, scrapes the live stack: what it reads
back through its query API equals what the test sent."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from tests.metrics.prom import MONITORING, Prometheus, live_config
from tests.metrics.stack import Stack, scrape, value

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def prometheus(metrics_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    targets = {
        "frontier-mistral": metrics_stack.server.url.removeprefix("http://"),
        "frontier-ollama": metrics_stack.proxy.url.removeprefix("http://"),
    }
    server = Prometheus(live_config(targets, MONITORING / "alerts.yml"), tmp_path_factory.mktemp("prometheus"))
    yield server
    server.stop()


def test_prometheus_scrapes_both_services(prometheus: Prometheus) -> None:
    for job in ("frontier-mistral", "frontier-ollama"):
        assert prometheus.wait_for(f'up{{job="{job}"}}', 1.0) == 1.0, job
    assert prometheus.wait_for('frontier_engine_up{job="frontier-mistral"}', 1.0) == 1.0


def test_request_and_token_counts_read_back_through_prometheus(metrics_stack: Stack, prometheus: Prometheus) -> None:
    layer_query = 'sum(frontier_requests_total{job="frontier-ollama", endpoint="/api/generate", status="200"})'
    server_query = f'sum(frontier_requests_total{{job="frontier-mistral", endpoint="{CHAT}", status="200"}})'
    tokens_query = 'sum(frontier_completion_tokens_total{job="frontier-ollama"})'
    live_layer, live_server = scrape(metrics_stack.proxy.url), scrape(metrics_stack.server.url)
    start = {
        layer_query: value(live_layer, "frontier_requests_total", endpoint="/api/generate", status="200"),
        server_query: value(live_server, "frontier_requests_total", endpoint=CHAT, status="200"),
        tokens_query: value(live_layer, "frontier_completion_tokens_total"),
    }
    for query, count in start.items():  # Prometheus has caught up with the services before the traffic
        expected = count or None  # a series with no sample yet does not exist in Prometheus
        assert prometheus.wait_for(query, expected) == expected, query

    sent, tokens = 3, 0
    for i in range(sent):
        answer = httpx.post(
            f"{metrics_stack.proxy.url}/api/generate", timeout=120,
            json={"model": "smollm2:135m", "prompt": f"Tell me about the number {i}", "stream": False,
                  "options": {"num_predict": 3}},
        )
        assert answer.status_code == 200, answer.text
        tokens += answer.json()["eval_count"]

    assert prometheus.wait_for(layer_query, start[layer_query] + sent) == start[layer_query] + sent
    assert prometheus.wait_for(server_query, start[server_query] + sent) == start[server_query] + sent
    assert prometheus.wait_for(tokens_query, start[tokens_query] + tokens) == start[tokens_query] + tokens


def test_the_shipped_alert_rules_load_and_evaluate_without_error(prometheus: Prometheus) -> None:
    deadline = time.monotonic() + 30
    while True:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        if rules and all(rule.get("health") == "ok" for rule in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(rules) == 6
    assert {rule["health"] for rule in rules} == {"ok"}, [(r["name"], r.get("lastError")) for r in rules]
    # Against a healthy stack, no alert fires (a rule that always fires would be as useless as none).
    assert [r["name"] for r in rules if r["state"] == "firing"] == []
