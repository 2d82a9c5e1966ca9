"""Stop strings as mistral.rs gets them (pure), and their effect on the real engine through the server."""

from __future__ import annotations

import httpx
import pytest

from frontier.engine.mistralrs.convert import engine_stops

DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize(
    ("stops", "sent"),
    [
        ([], None),
        (["They"], ["They", " They"]),
        ([" They"], [" They"]),
        (["\n\n", "Observation:"], ["\n\n", "Observation:", " Observation:"]),
        (["a", " a"], ["a", " a"]),
    ],
)
def test_each_stop_also_goes_out_with_a_leading_space(stops: list[str], sent: list[str] | None) -> None:
    assert engine_stops(stops) == sent


def test_a_word_from_the_middle_of_an_answer_stops_it(openai_server: str) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Tell me about dogs."}],
            "temperature": 0, "max_tokens": 30}
    free = httpx.post(f"{openai_server}/v1/chat/completions", json=body, timeout=120).json()
    words = free["choices"][0]["message"]["content"].split()
    stop = next(w for w in words[2:] if w.isalpha())  # a plain word, not the answer's first
    cut = httpx.post(f"{openai_server}/v1/chat/completions", json={**body, "stop": [stop]}, timeout=120).json()
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert stop not in cut["choices"][0]["message"]["content"]
