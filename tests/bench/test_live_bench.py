"""`frontier bench` end to end against the real server, and through the real Ollama layer in front of it.

Tiny settings (a few requests of 8 tokens): these check the report's structure and that its counts match what
was sent, never speed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ollama.conftest import start_layer
from typer.testing import CliRunner

from frontier.bench import clients, workload
from frontier.cli.main import app

MAX_TOKENS = 8


def run_bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", *args, "--max-tokens", str(MAX_TOKENS), "--json", str(out)])
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def ollama_layer(openai_server: str) -> Iterator[str]:
    layer = start_layer(openai_server)
    yield layer.url
    layer.stop()


def test_bench_against_the_server_counts_exactly_what_was_asked(openai_server: str, tmp_path: Path):
    chart = tmp_path / "chart.png"
    doc = run_bench(tmp_path, "--url", openai_server, "--concurrency", "1,2", "--requests", "2", "--warmup", "1",
                    "--prompt-tokens", "24", "--chart", str(chart))
    assert doc["schema"] == "frontier-bench/1"
    assert doc["plan"]["concurrency"] == [1, 2]
    assert doc["plan"]["prompt_lengths"].startswith("exact")  # Frontier serves /tokenize
    (target,) = doc["targets"]
    assert target["api"] == "openai" and target["ignore_eos"] is True
    assert [lv["concurrency"] for lv in target["levels"]] == [1, 2]
    for lv in target["levels"]:
        assert (lv["requests"], lv["errors"], lv["token_source"]) == (2, 0, "usage")
        assert lv["output_tokens"] == 2 * MAX_TOKENS  # ignore_eos: every answer is exactly max_tokens
        assert [r["output_tokens"] for r in lv["records"]] == [MAX_TOKENS, MAX_TOKENS]  # warm-up excluded
        assert lv["prompt_tokens_mean"] > 24  # the message plus the chat template
        assert lv["ttft_s"]["count"] == 2 and lv["e2e_s"]["count"] == 2
        assert lv["ttft_s"]["p50"] <= lv["ttft_s"]["p99"] <= lv["e2e_s"]["max"]
        assert lv["output_tokens_per_s"] > 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multi_turn_pairs_each_follow_up_with_a_cold_control(openai_server: str, tmp_path: Path):
    doc = run_bench(tmp_path, "--url", openai_server, "--multi-turn", "2", "--concurrency", "1", "--requests", "1",
                    "--warmup", "0", "--prompt-tokens", "48", "--turn-tokens", "8")
    (level,) = doc["targets"][0]["levels"]
    assert (level["requests"], level["errors"]) == (2, 0)  # opening + follow-up; the control is reported apart
    records = level["records"]
    assert [(r["turn"], r["cold"]) for r in records] == [(0, False), (1, False), (1, True)]
    assert [r["output_tokens"] for r in records] == [MAX_TOKENS, MAX_TOKENS, 1]
    # the follow-up carries the history, the control the same length with another opening
    assert records[1]["prompt_tokens"] > records[0]["prompt_tokens"] + MAX_TOKENS
    assert abs(records[2]["prompt_tokens"] - records[1]["prompt_tokens"]) <= 2
    (turn,) = doc["targets"][0]["multi_turn"]["1"]
    assert (turn["turn"], turn["warm_count"], turn["cold_count"]) == (1, 1, 1)
    assert turn["speedup"] == pytest.approx(turn["cold_ttft_p50_s"] / turn["warm_ttft_p50_s"])


def test_compare_interleaves_two_endpoints_and_reports_ratios(openai_server: str, ollama_layer: str, tmp_path: Path):
    doc = run_bench(tmp_path, "--url", openai_server, "--compare", ollama_layer, "--compare-api", "ollama",
                    "--compare-model", "smollm2:135m", "--tokenizer-url", openai_server, "--concurrency", "2",
                    "--requests", "2", "--warmup", "0", "--rounds", "2", "--prompt-tokens", "16")
    base, other = doc["targets"]
    assert (base["api"], other["api"]) == ("openai", "ollama")
    assert other["model"] == "smollm2:135m"
    assert base["levels"][0]["requests"] == other["levels"][0]["requests"] == 4  # 2 rounds of 2
    assert base["levels"][0]["output_tokens"] == 4 * MAX_TOKENS
    assert all(lv["errors"] == 0 for t in doc["targets"] for lv in t["levels"])
    (row,) = doc["comparison"]["ratios"]
    assert row["output_tokens_per_s"] == pytest.approx(
        other["levels"][0]["output_tokens_per_s"] / base["levels"][0]["output_tokens_per_s"])


def test_bench_through_the_ollama_layer_reads_eval_counts(ollama_layer: str, openai_server: str, tmp_path: Path):
    doc = run_bench(tmp_path, "--api", "ollama", "--url", ollama_layer, "--tokenizer-url", openai_server,
                    "--concurrency", "2", "--requests", "2", "--warmup", "0", "--prompt-tokens", "16")
    (target,) = doc["targets"]
    assert target["model"] == "smollm2:135m"  # discovered from /api/tags
    (lv,) = target["levels"]
    assert (lv["requests"], lv["errors"], lv["token_source"]) == (2, 0, "usage")
    # Ollama's API has no ignore_eos: each answer is at most num_predict, counted by the server's eval_count
    for r in lv["records"]:
        assert 1 <= r["output_tokens"] <= MAX_TOKENS
        assert r["prompt_tokens"] > 16
    assert lv["output_tokens"] == sum(r["output_tokens"] for r in lv["records"])


def test_failed_requests_are_counted_as_errors_not_throughput(openai_server: str, tmp_path: Path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--url", openai_server, "--model", "no-such-model", "--concurrency",
                                      "2", "--requests", "2", "--warmup", "0", "--max-tokens", "4",
                                      "--json", str(out), "--fail-on-error"])
    assert result.exit_code == 1
    (lv,) = json.loads(out.read_text())["targets"][0]["levels"]
    assert (lv["requests"], lv["errors"], lv["output_tokens"]) == (2, 2, 0)
    assert "404" in lv["error_samples"][0]


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path):
    result = CliRunner().invoke(app, ["bench", "--url", "http://127.0.0.1:9", "--requests", "1"])
    assert result.exit_code == 2
    assert "cannot list models" in result.output


def test_exact_prompts_have_the_token_count_the_server_measures(openai_server: str):
    async def check() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as http:
            model = await clients.discover_model("openai", http, openai_server)
            count = clients.tokenize_counter(http, openai_server, model)
            prompts = [await workload.exact_prompt(f"t:{n}", n, count) for n in (5, 33, 100)]
            return [await count(p.text) for p in prompts if p.exact]

    assert asyncio.run(check()) == [5, 33, 100]
