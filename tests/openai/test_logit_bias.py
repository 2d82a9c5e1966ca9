"""logit_bias on both engines, through the openai SDK: +100 makes a token the only choice, -100 bans it; a key
that is not a token id, or a bias outside [-100, 100], is a 400."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import DEFAULT_MODEL

import openai


def _token(url: str, text: str) -> int:
    tokens = httpx.post(f"{url}/tokenize", json={"model": DEFAULT_MODEL, "text": text}, timeout=30).json()["tokens"]
    assert len(tokens) == 1, tokens
    return int(tokens[0])


def test_a_bias_of_100_forces_a_token_and_minus_100_bans_it(openai_server: str) -> None:
    paris = _token(openai_server, " Paris")
    with openai.OpenAI(base_url=f"{openai_server}/v1", api_key="unused", max_retries=0) as client:
        forced = client.chat.completions.create(
            model=DEFAULT_MODEL, temperature=0, max_tokens=6, logit_bias={str(paris): 100},
            messages=[{"role": "user", "content": "Say something."}]).choices[0].message.content or ""
        assert forced.count("Paris") == 6, forced
        plain = client.completions.create(model=DEFAULT_MODEL, prompt="The capital of France is", temperature=0,
                                          max_tokens=4).choices[0].text
        assert "Paris" in plain  # the unbiased greedy answer, so the ban below is what removes it
        banned = client.completions.create(model=DEFAULT_MODEL, prompt="The capital of France is", temperature=0,
                                           max_tokens=4, logit_bias={str(paris): -100}).choices[0].text
        assert "Paris" not in banned, banned


@pytest.mark.parametrize("bias", [{"paris": 5}, {"12": 101}, {"12": -150}, {"999999999": 5}])
def test_a_bias_that_cannot_apply_is_a_400(openai_server: str, bias: dict[str, float]) -> None:
    r = httpx.post(f"{openai_server}/v1/chat/completions", timeout=30, json={
        "model": DEFAULT_MODEL, "max_tokens": 2, "logit_bias": bias, "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"
