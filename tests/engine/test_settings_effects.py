"""Each server setting observably takes effect on a live server (or is reported as not applicable)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL

HI = [{"role": "user", "content": "Tell me a story about a fox."}]


@pytest.fixture(scope="module")
def tweaked(start_server):  # type: ignore[no-untyped-def]
    return start_server({
        "MISTRAL_MAX_SEQ_LEN": "256", "MISTRAL_MAX_BATCH_SIZE": "2", "MISTRAL_DEFAULT_QUANTIZATION": "none",
        "MISTRAL_LOG_LEVEL": "debug", "MISTRAL_DEVICE": "cuda", "MISTRAL_PREFIX_CACHE_N": "0",
    })


def _model(url: str) -> dict:
    return httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]


def _watch_health(url: str, stop: threading.Event, seen: list[dict]) -> None:
    while not stop.is_set():
        seen.append(httpx.get(f"{url}/health", timeout=10).json())
        time.sleep(0.05)


def _concurrent_chats(url: str, count: int, max_tokens: int) -> list[dict]:
    seen: list[dict] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_health, args=(url, stop, seen))
    watcher.start()
    results: list[int] = []

    def one() -> None:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=120,
                       json={"model": DEFAULT_MODEL, "messages": HI, "max_tokens": max_tokens})
        results.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert results == [200] * count
    return seen


def test_max_seq_len_caps_the_context(tweaked) -> None:  # type: ignore[no-untyped-def]
    assert _model(tweaked.url)["context_length"] == 256
    r = httpx.post(f"{tweaked.url}/v1/chat/completions", timeout=30,
                   json={"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "word " * 300}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_quantization_none_keeps_the_shipped_type_and_auto_requantizes(tweaked, openai_server: str,  # type: ignore[no-untyped-def]
                                                                      engine_name: str) -> None:
    assert _model(tweaked.url)["quantization"] == "Q4_1"
    # auto: Q4_1 runs slowly on both engines' CPU kernels. mistral.rs re-quantizes it to Q8_0 at load (ISQ);
    # llama.cpp serves a Q8_0 copy it writes once into the models folder's .derived/.
    assert _model(openai_server)["quantization"] == "Q8_0"


def test_max_batch_size_bounds_concurrent_sequences(tweaked) -> None:  # type: ignore[no-untyped-def]
    seen = _concurrent_chats(tweaked.url, 4, 24)
    assert max(h["in_flight"] for h in seen) == 2
    assert max(h["queued"] for h in seen) >= 1


def test_startup_report_names_device_fallback_and_settings(tweaked) -> None:  # type: ignore[no-untyped-def]
    log = tweaked.log_path.read_text()
    assert "cannot use cuda" in log or "no NVIDIA GPU" in log
    assert "falling back to CPU" in log
    assert "MISTRAL_PREFIX_CACHE_N=0: applied - prefix cache disabled" in log
    assert "MISTRAL_MEMORY_RESERVATION=32G: not applicable" in log
    assert "MISTRAL_USE_FLASH_ATTENTION=false: not applicable" in log
    assert "DEBUG" in log  # MISTRAL_LOG_LEVEL=debug


def test_without_continuous_batching_requests_run_one_at_a_time(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_ENABLE_CONTINUOUS_BATCHING": "false"})
    seen = _concurrent_chats(server.url, 3, 16)
    assert max(h["in_flight"] for h in seen) == 1
    assert max(h["queued"] for h in seen) >= 1


def _wait_status(url: str, status: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/health", timeout=5)
            if r.status_code == status:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"/health never answered {status}")


def test_memory_limit_refuses_a_model_that_does_not_fit(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_MEMORY_LIMIT": "50M"}, wait=False)
    body = _wait_status(server.url, 503)
    assert body["status"] == "unavailable" and "MISTRAL_MEMORY_LIMIT=50M" in body["reason"]
    r = httpx.post(f"{server.url}/v1/chat/completions", json={"model": DEFAULT_MODEL, "messages": HI}, timeout=10)
    assert r.status_code in (404, 503) and "error" in r.json()


def test_missing_model_gives_503_health_with_the_reason(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"MISTRAL_MODEL_ID": "no-such-model.gguf"}, wait=False)
    body = _wait_status(server.url, 503)
    assert "no-such-model.gguf" in body["reason"]


def test_invalid_setting_stops_startup_with_a_clear_message() -> None:
    env = {**os.environ, "MISTRAL_MAX_BATCH_SIZE": "many"}
    out = subprocess.run([sys.executable, "-m", "frontier", "serve"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "MISTRAL_MAX_BATCH_SIZE='many'" in out.stderr and "valid integer" in out.stderr
