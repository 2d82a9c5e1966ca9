"""The statistics against workloads whose answers are computed by hand."""

from __future__ import annotations

import pytest

from frontier.bench.record import RequestRecord
from frontier.bench.runner import turn_stats
from frontier.bench.stats import distribution, level_stats, percentile, ratio


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # rank 1.5: halfway between 2 and 3
        (list(range(1, 12)), 90, 10.0),  # rank 9 exactly
        (list(range(1, 102)), 99, 100.0),
        ([4, 1, 3, 2], 50, 2.5),  # order of input does not matter
        ([7.0], 99, 7.0),
        ([0, 10], 90, 9.0),  # rank 0.9: 0 + 0.9 * 10
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
    ],
)
def test_percentile_interpolates_linearly_between_closest_ranks(values, q, expected):  # type: ignore[no-untyped-def]
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_refuses_no_values_and_out_of_range():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)


def test_distribution_of_nothing_is_none_not_zeros():
    assert distribution([]) is None
    d = distribution([1.0, 2.0, 3.0, 4.0])
    assert d is not None
    assert (d.count, d.mean, d.p50, d.max) == (4, 2.5, 2.5, 4.0)


def _record(start: float, chunks: list[float], tokens: int, **kw: object) -> RequestRecord:
    return RequestRecord(start=start, end=chunks[-1] + 0.01 if chunks else start + 1, chunk_times=chunks,
                         output_tokens=tokens, **kw)  # type: ignore[arg-type]


def test_record_ttft_gaps_and_time_per_output_token_from_timestamps():
    r = _record(10.0, [10.5, 10.6, 10.8, 11.1], tokens=4)
    assert r.ttft == pytest.approx(0.5)
    assert r.gaps == pytest.approx([0.1, 0.2, 0.3])
    assert r.tpot == pytest.approx(0.6 / 3)
    assert r.e2e == pytest.approx(1.11)


def test_time_per_output_token_uses_the_server_count_when_chunks_pack_several_tokens():
    # 3 chunks carrying 7 tokens between them: per-token time is (last - first) / 6, not / 2.
    r = _record(0.0, [0.2, 0.5, 0.8], tokens=7)
    assert r.tpot == pytest.approx(0.1)
    assert r.gaps == pytest.approx([0.3, 0.3])


def test_record_without_chunks_has_no_ttft():
    r = RequestRecord(start=1.0, end=2.0)
    assert r.ttft is None and r.tpot is None and r.gaps == []


def test_level_stats_of_a_known_workload():
    # Four requests in a 2.0 s window; server counts (usage) of 10 tokens each although only 5 chunks came;
    # a fifth request failed and must count as an error only.
    ok = [
        _record(0.0, [0.1, 0.2, 0.3, 0.4, 0.5], tokens=10, prompt_tokens=30),
        _record(0.0, [0.2, 0.3, 0.4, 0.5, 0.6], tokens=10, prompt_tokens=30),
        _record(1.0, [1.3, 1.4, 1.5, 1.6, 1.7], tokens=10, prompt_tokens=34),
        _record(1.0, [1.4, 1.5, 1.6, 1.7, 1.8], tokens=10, prompt_tokens=34),
    ]
    failed = RequestRecord(start=0.5, end=0.6, output_tokens=3, error="HTTP 500: boom")
    lv = level_stats(4, [*ok, failed], duration=2.0)
    assert (lv.requests, lv.errors) == (5, 1)
    assert lv.output_tokens == 40  # from usage, not the 20 chunks; the failed request's 3 are not throughput
    assert lv.output_tokens_per_s == pytest.approx(20.0)
    assert lv.requests_per_s == pytest.approx(2.0)
    assert lv.prompt_tokens_mean == pytest.approx(32.0)
    assert lv.token_source == "usage"
    assert lv.ttft is not None
    # TTFTs 0.1, 0.2, 0.3, 0.4: p50 at rank 1.5 = 0.25, p90 at rank 2.7 = 0.37
    assert lv.ttft.p50 == pytest.approx(0.25)
    assert lv.ttft.p90 == pytest.approx(0.37)
    assert lv.itl is not None and lv.itl.count == 16 and lv.itl.p50 == pytest.approx(0.1)
    assert lv.e2e is not None and lv.e2e.max == pytest.approx(0.81)
    assert lv.error_samples == ("HTTP 500: boom",)


def test_level_where_everything_failed_reports_no_latency_and_zero_rates():
    lv = level_stats(2, [RequestRecord(start=0, end=1, error="x"), RequestRecord(start=0, end=1, error="x")], 1.0)
    assert (lv.errors, lv.output_tokens, lv.output_tokens_per_s) == (2, 0, 0.0)
    assert lv.ttft is None and lv.e2e is None
    assert lv.as_dict()["ttft_s"] is None


def test_token_source_says_when_counts_came_from_chunks():
    a = _record(0, [0.1, 0.2], tokens=2)
    b = _record(0, [0.1, 0.2], tokens=2, token_source="chunks")
    assert level_stats(1, [a, b], 1.0).token_source == "mixed"
    assert level_stats(1, [b], 1.0).token_source == "chunks"


def test_ratio_guards_missing_and_zero():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, 0.0) is None


def test_turn_stats_pair_each_follow_up_with_its_cold_control():
    records = [
        _record(0, [1.0], 1, turn=0),
        _record(0, [0.1], 1, turn=1), _record(0, [0.9], 1, turn=1, cold=True),
        _record(0, [0.3], 1, turn=1), _record(0, [1.1], 1, turn=1, cold=True),
        _record(0, [0.2], 1, turn=2), _record(0, [1.2], 1, turn=2, cold=True),
    ]
    turns = turn_stats(records)
    assert [t.turn for t in turns] == [1, 2]
    assert turns[0].warm_ttft_p50 == pytest.approx(0.2) and turns[0].cold_ttft_p50 == pytest.approx(1.0)
    assert turns[0].speedup == pytest.approx(5.0)
    assert (turns[0].warm_count, turns[0].cold_count) == (2, 2)
    assert turns[1].speedup == pytest.approx(6.0)
