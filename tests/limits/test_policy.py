"""The pure parts of the limits: size checks, the max_tokens cap, admission counting. No server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from frontier.config import Settings
from frontier.engine.protocol import Delta, EngineHealth, GenerationRequest, ModelInfo, SamplingParams
from frontier.errors import InvalidRequestError, OverloadedError
from frontier.limits import Admission, LimitedEngine, Limits
from frontier.limits.policy import capped_max_tokens, check_messages, check_prompt, text_chars


def test_limits_come_from_settings_and_batching_off_means_one_slot() -> None:
    settings = Settings(_env_file=None, frontier_max_queue=3, mistral_max_batch_size=4,  # type: ignore[call-arg]
                        mistral_enable_continuous_batching=False, frontier_max_tokens=50)
    limits = Limits.from_settings(settings)
    assert (limits.slots, limits.max_queue, limits.max_tokens) == (1, 3, 50)
    assert Limits.from_settings(Settings(_env_file=None)).max_body_bytes == Limits().max_body_bytes  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("content", "chars"),
    [("hello", 5), ([{"type": "text", "text": "ab"}, {"type": "image_url", "image_url": {"url": "x" * 99}}], 2),
     (None, 0)],
)
def test_text_chars_counts_text_parts_only(content: object, chars: int) -> None:
    assert text_chars(content) == chars


def test_check_prompt_names_the_limit_that_was_passed() -> None:
    limits = Limits(max_messages=2, max_prompt_chars=10)
    check_prompt(limits, 2, 10)  # at the limits: fine
    with pytest.raises(InvalidRequestError, match="FRONTIER_MAX_MESSAGES") as many:
        check_messages(limits, [{"role": "user", "content": "a"}] * 3)
    assert many.value.code == "too_many_messages" and many.value.param == "messages"
    with pytest.raises(InvalidRequestError, match="FRONTIER_MAX_PROMPT_CHARS") as long:
        check_prompt(limits, 1, 11, param="prompt")
    assert long.value.code == "prompt_too_long" and long.value.param == "prompt"


@pytest.mark.parametrize(("cap", "wanted", "got"), [(None, None, None), (None, 9, 9), (5, None, 5), (5, 9, 5),
                                                    (5, 3, 3)])
def test_max_tokens_cap(cap: int | None, wanted: int | None, got: int | None) -> None:
    assert capped_max_tokens(Limits(max_tokens=cap), wanted) == got


def test_admission_refuses_beyond_slots_plus_queue_and_frees_places() -> None:
    admission = Admission(slots=1, max_queue=1, retry_after=3)
    admission.enter()
    admission.enter()
    with pytest.raises(OverloadedError) as refused:
        admission.enter()
    assert refused.value.retry_after == 3
    admission.leave()
    admission.enter()  # a freed place is usable again
    assert admission.active == 2


class EchoEngine:
    """Test double: records what reached the engine. The limits wrapper is engine-independent by design,
    so a trivial engine is the honest way to show what it passes on."""

    name = "echo"

    def __init__(self) -> None:
        self.seen: list[GenerationRequest] = []

    async def load(self) -> None:
        return None

    def models(self) -> list[ModelInfo]:
        return []

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        self.seen.append(request)
        yield Delta(text="x", finish_reason="stop")

    async def tokenize(self, model: str, text: str) -> list[int]:
        return []

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True)

    async def close(self) -> None:
        return None


def test_limited_engine_caps_max_tokens_and_releases_its_place() -> None:
    inner = EchoEngine()
    engine = LimitedEngine(inner, Limits(max_tokens=7, slots=1, max_queue=0))

    async def run() -> None:
        for wanted in (100, None):
            request = GenerationRequest(model="m", messages=[{"role": "user", "content": "hi"}],
                                        params=SamplingParams(max_tokens=wanted))
            assert [d.text async for d in engine.generate(request)] == ["x"]
        with pytest.raises(InvalidRequestError):
            async for _ in engine.generate(GenerationRequest(model="m", prompt="y" * 3_000_000)):
                pass

    asyncio.run(run())
    assert [r.params.max_tokens for r in inner.seen] == [7, 7]
    assert engine.admission.active == 0  # every place given back (one slot, no queue: else the 2nd is refused)
