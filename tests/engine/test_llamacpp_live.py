"""What the llama.cpp engine adds, on a live server: continuous batching (many sequences decode together),
prefix reuse across requests, per-request seeds, and slots freed when a client leaves."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL

STORY = [{"role": "user", "content": "Tell me a long story about a fox in a forest."}]


@pytest.fixture(scope="module")
def server(start_server):  # type: ignore[no-untyped-def]
    return start_server({"MISTRAL_ENGINE": "llamacpp", "MISTRAL_MAX_BATCH_SIZE": "4", "MISTRAL_KV_LAYOUT": "auto"})


def _chat(url: str, messages: list[dict[str, str]], **extra: object) -> dict:
    r = httpx.post(f"{url}/v1/chat/completions", timeout=300,
                   json={"model": DEFAULT_MODEL, "messages": messages, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_sequences_decode_together_up_to_the_batch_size(server) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(httpx.get(f"{server.url}/health", timeout=10).json())
            time.sleep(0.02)

    results: list[dict] = []
    failures: list[BaseException] = []

    def one() -> None:
        try:
            results.append(_chat(server.url, STORY, max_tokens=24, ignore_eos=True))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not failures, failures
    assert [r["usage"]["completion_tokens"] for r in results] == [24] * 6
    assert max(h["in_flight"] for h in seen) == 4  # MISTRAL_MAX_BATCH_SIZE sequences at once, no more
    assert max(h["queued"] for h in seen) >= 1


def test_a_follow_up_turn_reuses_the_cached_conversation(server) -> None:  # type: ignore[no-untyped-def]
    first = _chat(server.url, STORY, max_tokens=32, temperature=0)
    answer = first["choices"][0]["message"]["content"]
    follow = [*STORY, {"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
    second = _chat(server.url, follow, max_tokens=8, temperature=0)
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= first["usage"]["prompt_tokens"]  # at least the whole first prompt was not prefilled again
    assert cached < second["usage"]["prompt_tokens"]


def test_new_chats_on_a_fresh_server_find_the_template_opening_cached(start_server) -> None:  # type: ignore[no-untyped-def]
    # A fresh server: no slot has served a request; each chat lands in a slot of its own (they run at once)
    fresh = start_server({"MISTRAL_ENGINE": "llamacpp", "MISTRAL_MAX_BATCH_SIZE": "3"})
    results: list[dict] = []
    chats = [[{"role": "user", "content": text}] for text in ("Name a fruit.", "Name a river.", "Name a city.")]
    threads = [threading.Thread(target=lambda c=chat: results.append(_chat(fresh.url, c, max_tokens=4)))
               for chat in chats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cached = [r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in results]
    # SmolLM2's template opens every chat with its default system prompt and the user header: 24 tokens
    assert len(cached) == 3 and cached[0] >= 20 and len(set(cached)) == 1, cached
    assert all(c < r["usage"]["prompt_tokens"] for c, r in zip(cached, results, strict=True))


def test_seeds_make_sampling_repeatable_per_request(start_server) -> None:  # type: ignore[no-untyped-def]
    # Without prefix reuse: a prompt decoded partly from cache meets other kernels (batch of 1 against a batch of
    # the whole prompt) and its logits differ in the last bits, which sampling at temperature 1 can amplify.
    server = start_server({"MISTRAL_ENGINE": "llamacpp", "MISTRAL_PREFIX_CACHE_N": "0"})

    def sample(seed: int) -> str:
        return str(_chat(server.url, STORY, max_tokens=24, temperature=1.0, seed=seed)["choices"][0]["message"]
                   ["content"])

    assert sample(7) == sample(7)
    assert len({sample(s) for s in (1, 2, 3)}) > 1


def test_a_client_that_leaves_frees_its_slot(server) -> None:  # type: ignore[no-untyped-def]
    """2000 tokens take the engine tens of seconds; the client reads for a second, then leaves. The engine must be
    idle again within a few seconds (not after the 2000 tokens), and serve the next request."""
    body = {"model": DEFAULT_MODEL, "messages": STORY, "max_tokens": 2000, "ignore_eos": True, "stream": True}
    chunks = 0
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as r:
        started = time.monotonic()
        for line in r.iter_lines():
            chunks += line.startswith("data: {")
            if time.monotonic() - started > 1.0 and chunks > 5:
                break  # still generating: the answer is far from done
        assert '"finish_reason":null' in line.replace(" ", "")
    left = time.monotonic()
    while httpx.get(f"{server.url}/health", timeout=10).json()["in_flight"]:
        assert time.monotonic() - left < 10, "the engine kept generating for a client that left"
        time.sleep(0.05)
    assert _chat(server.url, STORY, max_tokens=4)["usage"]["completion_tokens"] == 4


def _cpu_threads(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("frontier_engine_cpu_threads "):
            return float(line.split()[1])
    raise AssertionError("no frontier_engine_cpu_threads gauge")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a core for the busy process to take")
def test_a_process_keeping_a_core_busy_costs_the_engine_a_thread_not_its_speed(server) -> None:  # type: ignore[no-untyped-def]
    cores = len(os.sched_getaffinity(0))
    _chat(server.url, STORY, max_tokens=8)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # the engine looks at the machine's load every half second of decoding
        answer = _chat(server.url, STORY, max_tokens=160, ignore_eos=True)
        during = _cpu_threads(server.url)
    finally:
        busy.kill()
        busy.wait()
    assert answer["usage"]["completion_tokens"] == 160  # (with 2 threads on 2 cores this took minutes)
    assert 1 <= during <= cores - 1
