"""Pure parts of the llama.cpp engine, table-driven, no model: text streaming with stop strings, tool-call
parsing, chat templates and the engine choice."""

from __future__ import annotations

import json

import pytest

from frontier.engine import tool_calls
from frontier.engine.choice import EngineRefused, choose_engine, serving_engines
from frontier.engine.llamacpp import chat_template
from frontier.engine.llamacpp.engine import kv_split
from frontier.engine.llamacpp.scheduler import _Slot, choose_slot, fair_share
from frontier.engine.llamacpp.textstream import TextStream
from frontier.errors import InvalidRequestError


def _run(pieces: list[bytes], stops: list[str]) -> tuple[str, bool]:
    stream = TextStream(stops)
    out = "".join(stream.push(p) for p in pieces)
    return out + stream.finish(), stream.stopped


@pytest.mark.parametrize(("pieces", "stops", "text", "stopped"), [
    ([b"Hello", b" world"], [], "Hello world", False),
    ([b"Hello", b" world", b"!"], ["world"], "Hello ", True),
    ([b"Hel", b"lo", b" wo", b"rld"], ["lo wo"], "Hel", True),  # a stop split across three tokens
    ([b"ab", b"c"], ["cd"], "abc", False),  # held "c" is released at the end
    (["é".encode()[:1], "é".encode()[1:], b"!"], [], "é!", False),  # a character split across tokens
    ([b"x", b"STOP", b"more"], ["STOP", "x"], "", True),  # the earliest stop wins
])
def test_text_stream(pieces: list[bytes], stops: list[str], text: str, stopped: bool) -> None:
    assert _run(pieces, stops) == (text, stopped)


def test_text_stream_holds_back_only_what_may_become_a_stop() -> None:
    stream = TextStream(["</s>"])
    assert stream.push(b"answer <") == "answer "
    assert stream.push(b"b>") == "<b>"


TOOLS = {"get_weather"}


@pytest.mark.parametrize(("text", "names", "args"), [
    ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>', ["get_weather"],
     [{"city": "Paris"}]),
    ('{"name": "get_weather", "parameters": {"city": "Oslo"}}', ["get_weather"], [{"city": "Oslo"}]),
    ('[{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}]', ["get_weather"], [{"city": "Rome"}]),
    ("The weather is nice.", [], []),
    ('{"name": "rm_rf", "arguments": {}}', [], []),  # a tool that was not offered is not a call
    ('<tool_call>{"name": "get_weather", "arguments": {"city": "Pa', [], []),  # cut off: plain text
])
def test_tool_call_parsing(text: str, names: list[str], args: list[dict[str, str]]) -> None:
    calls = tool_calls.parse(text, TOOLS)
    assert [c.name for c in calls] == names
    assert [json.loads(c.arguments) for c in calls] == args
    assert len({c.id for c in calls}) == len(calls)


def test_tools_are_described_in_the_system_message() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    out = tool_calls.with_tools([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                                tools)
    assert out[0]["content"].startswith("Be brief.") and "get_weather" in out[0]["content"]
    assert tool_calls.with_tools([{"role": "user", "content": "Hi"}], tools)[0]["role"] == "system"


def test_chat_template_renders_chatml_with_generation_prompt() -> None:
    text = chat_template.render("", [{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_chat_template_errors_are_bad_requests() -> None:
    with pytest.raises(InvalidRequestError, match="refused"):
        chat_template.render("{{ raise_exception('roles must alternate') }}", [{"role": "user", "content": "x"}])
    with pytest.raises(InvalidRequestError):
        chat_template.render("{{ messages[5]['content'] + 1 }}", [{"role": "user", "content": "x"}])


def _choose(wanted: str = "auto", **kw: object) -> str:
    args: dict[str, object] = dict(model_type="gguf", architecture="llama", device="cpu", llamacpp_installed=True,
                                   llamacpp_gpu=False, isq_requested=False)
    args.update(kw)
    return choose_engine(wanted, **args).engine  # type: ignore[arg-type]


@pytest.mark.parametrize(("wanted", "kw", "engine"), [
    ("auto", {}, "llamacpp"),
    ("auto", {"llamacpp_installed": False}, "mistralrs"),
    ("auto", {"model_type": "plain"}, "mistralrs"),
    ("llamacpp", {"model_type": "lora"}, "mistralrs"),  # only mistral.rs serves adapters
    ("auto", {"isq_requested": True}, "mistralrs"),
    ("mistralrs", {}, "mistralrs"),
    ("mistralrs", {"architecture": "gemma3"}, "llamacpp"),  # never routed to an engine that breaks it
    ("auto", {"device": "cuda"}, "mistralrs"),
    ("auto", {"device": "cuda", "llamacpp_gpu": True}, "llamacpp"),
])
def test_engine_choice(wanted: str, kw: dict[str, object], engine: str) -> None:
    assert _choose(wanted, **kw) == engine


def test_engine_choice_refuses_what_would_break() -> None:
    with pytest.raises(EngineRefused, match="Gemma 3"):
        _choose("auto", architecture="gemma3", llamacpp_installed=False)
    with pytest.raises(EngineRefused, match="not installed"):
        _choose("llamacpp", llamacpp_installed=False)
    assert serving_engines("gemma3") == ["llamacpp"]
    assert serving_engines("llama") == ["mistralrs", "llamacpp"]


# --- which slot a new request takes (prefix reuse) ----------------------------------------------------
SYSTEM = [1, 2, 3, 4]  # what every templated chat starts with


def _slot(seq: int, cached: list[int], last_used: float = 0.0) -> _Slot:
    return _Slot(seq, list(cached), last_used)


@pytest.mark.parametrize(
    ("slots", "prompt", "expected"),
    [
        # a follow-up turn goes to its conversation's slot
        ([_slot(0, SYSTEM + [10, 11, 12, 13]), _slot(1, [])], SYSTEM + [10, 11, 12, 13, 14, 15], 0),
        # a new chat sharing only the system prompt takes the empty slot, not the conversation's
        ([_slot(0, SYSTEM + [10, 11, 12, 13], 5.0), _slot(1, [])], SYSTEM + [20, 21, 22, 23], 1),
        # all slots hold conversations: the new chat displaces the least recently used, however long
        ([_slot(0, SYSTEM + list(range(10, 30)), 1.0), _slot(1, SYSTEM + [50, 51], 2.0)], SYSTEM + [20, 21], 0),
        # a long shared system prompt is worth continuing even in a slot holding another conversation
        ([_slot(0, SYSTEM * 5 + [60, 61, 62], 1.0), _slot(1, [])], SYSTEM * 5 + [70], 0),
        # equal value: the least recently used
        ([_slot(0, [], 9.0), _slot(1, [], 3.0), _slot(2, [], 7.0)], [5, 6], 1),
        # the same prompt again reuses the slot holding it, answer and all
        ([_slot(0, [7, 8, 9, 40, 41]), _slot(1, [])], [7, 8, 9], 0),
    ],
)
def test_a_new_request_takes_the_slot_that_serves_it_best(slots: list[_Slot], prompt: list[int],
                                                          expected: int) -> None:
    assert choose_slot(slots, prompt).seq == expected


@pytest.mark.parametrize(("ctx_len", "slots", "per_cell", "limit", "split"), [
    (8192, 8, 23_040, 64 * 2**30, True),  # the default model: 1.4 GiB for a context per slot
    (8192, 1, 23_040, 64 * 2**30, False),  # one slot: nothing to split
    (32768, 8, 131_072, 64 * 2**30, False),  # a 7B model: 32 GiB would be reserved, share one pool instead
    (8192, 8, 23_040, 4 * 2**30, False),  # over a quarter of MISTRAL_MEMORY_LIMIT
    (8192, 32, 23_040, 64 * 2**30, False),  # 32 slots: 5.6 GiB
])
def test_each_slot_gets_its_own_context_only_where_memory_allows(ctx_len, slots, per_cell, limit, split) -> None:  # type: ignore[no-untyped-def]
    assert kv_split(ctx_len, slots, per_cell, limit) is split


@pytest.mark.parametrize(("pieces", "shown", "rest", "calls"), [
    (["Hel", "lo ", "there"], ["Hel", "lo ", "there"], "", []),  # prose streams piece by piece
    (["{\"name\": \"w\", ", "\"arguments\": {}}"], ["", ""], "", ["w"]),  # a bare call is held, then a call
    (["{not json", "}"], ["", ""], "{not json}", []),  # held JSON that is no call: text at the end
    (["Let me look. <tool", "_call>{\"name\": \"w\", \"arguments\": {}}</tool_call>"],
     ["Let me look. ", ""], "", ["w"]),  # prose, then a call block: the prose was already shown
    (["a <to", "y> b"], ["a ", "<toy> b"], "", []),  # a tail that only looked like a block opening
    (["<tool_call>{\"name\": \"nope\", \"arguments\": {}}"], [""], "<tool_call>{\"name\": \"nope\", \"arguments\": {}}",
     []),  # a call of a tool nobody offered stays text
])
def test_a_tool_offered_answer_streams_its_prose_and_holds_what_may_be_a_call(
        pieces: list[str], shown: list[str], rest: str, calls: list[str]) -> None:
    watch = tool_calls.CallWatch({"w"})
    assert [watch.push(p) for p in pieces] == shown
    text, found = watch.finish()
    assert text == rest and [c.name for c in found] == calls


@pytest.mark.parametrize(("pending", "budget", "share"), [
    ([70] * 8, 512, 64),  # 8 x 64 now, 8 x 6 next: one micro-batch each
    ([70] * 8, 560, 70),  # all fit
    ([1000, 30], 512, 482),  # the short one finishes, the long one takes the rest
    ([3, 100, 100], 50, 23),  # 3 + 23 + 23 = 49: the leftover token would make an uneven micro-batch
    ([5] * 8, 4, 0),  # not a token each: the caller falls back to first come first served
    ([], 512, 0),
])
def test_prompts_advance_by_equal_shares(pending: list[int], budget: int, share: int) -> None:
    assert fair_share(pending, budget) == share
    assert sum(min(n, share) for n in pending) <= budget
    assert share == max(pending, default=0) or sum(min(n, share + 1) for n in pending) > budget
