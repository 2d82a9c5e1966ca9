"""Seeded synthetic prompts of an exact token length.

Prompts are random sequences of common English words, so that no two prompts share a prefix (a shared prefix
would let the engine's prefix cache skip work and flatter the numbers). The same seed gives the same prompts.
Lengths are exact when a tokenizer is at hand (the target's `/tokenize` extension, which Frontier and vLLM
serve) and otherwise a calibrated estimate; the report says which. The token count is that of the message
text; the server's `prompt_tokens` adds its chat template.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Common words that are one token each in most BPE vocabularies (Llama, Mistral, SmolLM2, GPT-2).
_WORD_TEXT = """
the of and to in is was for on that with as by at from his her they this be are have had not but what all were
when we there can an your which their said if do will each about how up out them then she many some so these
would other into has more two like him see time could no make than first been its who now people my made over
did down only way find use may water long little very after words called just where most know get through back
much before go good new write our used me man too any day same right look think also around another came come
work three word must because does part even place well such here take why things help put years different away
again off went old number great tell men say small every found still between name should home big give air
line set own under read last never us left end along while might next sound below saw something thought both
few those always looked show large often together asked house world going want school important until form food
keep children feet land side without boy once animals life enough took sometimes four head above kind began
almost live page got earth need far hand high year mother light parts country father let night following picture
being study second eyes soon times story boys since white days ever paper hard near sentence better best across
during today others however sure means knew try told young miles sun ways thing whole hear example heard several
change answer room sea against top turned learn point city play toward five using himself usually money seen
car morning body upon family later move face door cut done group true half red fish plants living black eat
short river open game green run mountains walk horse star road bird moon table ground field music mind garden
"""
WORDS = tuple(_WORD_TEXT.split())
ESTIMATED_TOKENS_PER_WORD = 1.0  # for WORDS, joined by spaces (SmolLM2's tokenizer: 1.00; see tests/bench)

TokenCount = Callable[[str], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: int  # by the tokenizer when `exact`, else the estimate
    exact: bool


def word_stream(seed: int | str, count: int) -> list[str]:
    rng = random.Random(f"frontier-bench:{seed}")
    return [rng.choice(WORDS) for _ in range(count)]


def estimate_tokens(text: str) -> int:
    return round(len(text.split()) * ESTIMATED_TOKENS_PER_WORD)


def estimated_prompt(seed: int | str, target: int) -> Prompt:
    words = word_stream(seed, max(1, round(target / ESTIMATED_TOKENS_PER_WORD)))
    text = " ".join(words).capitalize()
    return Prompt(text, estimate_tokens(text), exact=False)


async def exact_prompt(seed: int | str, target: int, count: TokenCount, max_calls: int = 32) -> Prompt:
    """Searches the word count of a seeded word sequence until the tokenizer counts exactly `target` tokens:
    the next guess scales by the last measured tokens per word, kept between the longest prefix known to be
    short and the shortest known to be long. When one word jumps over the target (it is several tokens), it is
    dropped and the next word tried. Gives up after `max_calls` tokenizer calls with the closest prefix below."""
    if target < 1:
        raise ValueError("a prompt needs at least one token")
    words = word_stream(seed, 2 * target + 64)
    short: tuple[int, Prompt] | None = None  # (word count, prompt) below the target
    long_k: int | None = None  # word count known to be above the target
    k = max(1, round(target / ESTIMATED_TOKENS_PER_WORD))
    for _ in range(max_calls):
        text = " ".join(words[:k]).capitalize()
        tokens = await count(text)
        if tokens == target:
            return Prompt(text, tokens, exact=True)
        if tokens < target:
            short = (k, Prompt(text, tokens, exact=False))
        else:
            long_k = k
        guess = round(k * target / max(tokens, 1))
        low = short[0] + 1 if short else 1
        high = min(long_k - 1 if long_k is not None else len(words), len(words))
        if low > high:
            if short is None or long_k != short[0] + 1 or len(words) <= long_k:
                break
            del words[short[0]]  # this word jumps over the target: try the next one in its place
            long_k, k = None, short[0] + 1
            continue
        k = min(max(guess, low), high)
    if short is None:
        raise ValueError(f"could not build a prompt of {target} tokens")
    return short[1]
