"""Seeded prompts: deterministic, distinct, and fitted to an exact token count.

The fitting algorithm is exercised here with a rule-based counter (a stand-in tokenizer that counts long words
as two tokens, so the overshoot path runs); tests/bench/test_live_bench.py checks exactness against the real
server's tokenizer.
"""

from __future__ import annotations

import asyncio

import pytest

from frontier.bench import workload


def test_same_seed_same_words_and_different_seeds_differ():
    assert workload.word_stream(7, 50) == workload.word_stream(7, 50)
    assert workload.word_stream(7, 50) != workload.word_stream(8, 50)
    assert workload.word_stream("0:base:1", 5) != workload.word_stream("0:base:2", 5)


def test_prompts_of_different_seeds_share_no_opening():
    openings = {tuple(workload.estimated_prompt(f"0:base:{i}", 64).text.split()[:3]) for i in range(50)}
    assert len(openings) == 50  # a shared opening would let a prefix cache flatter the numbers


def test_estimated_prompt_is_deterministic_and_says_it_is_an_estimate():
    a, b = workload.estimated_prompt(3, 40), workload.estimated_prompt(3, 40)
    assert a == b
    assert a.tokens == 40 and len(a.text.split()) == 40
    assert a.exact is False


async def _two_tokens_for_long_words(text: str) -> int:
    return sum(2 if len(word) >= 6 else 1 for word in text.split())


@pytest.mark.parametrize("target", [1, 7, 64, 129])
def test_exact_prompt_hits_the_target_even_when_words_overshoot(target):  # type: ignore[no-untyped-def]
    prompt = asyncio.run(workload.exact_prompt("s", target, _two_tokens_for_long_words))
    assert prompt.exact is True
    assert asyncio.run(_two_tokens_for_long_words(prompt.text)) == target
    assert prompt == asyncio.run(workload.exact_prompt("s", target, _two_tokens_for_long_words))


def test_exact_prompt_returns_the_closest_under_the_target_when_it_cannot_hit_it():
    async def always_three_per_word(text: str) -> int:
        return 3 * len(text.split())

    prompt = asyncio.run(workload.exact_prompt("s", 10, always_three_per_word))
    assert (prompt.tokens, prompt.exact) == (9, False)


def test_exact_prompt_refuses_a_zero_length():
    with pytest.raises(ValueError):
        asyncio.run(workload.exact_prompt("s", 0, _two_tokens_for_long_words))
