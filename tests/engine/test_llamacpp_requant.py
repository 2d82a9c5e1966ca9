"""The Q8_0 copy `auto` serves on llama.cpp for Q4_1 files: when it is made, that it is the same model, and
that failures fall back to the file as shipped without leaving anything half-written.

All on a copy of the default model in a temporary folder, with the real llama.cpp quantizer and model loader.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS

from frontier.bench.drift import drift, log_probs
from frontier.engine.llamacpp.requant import ensure_q8_0, wants_copy
from frontier.models.inspect import read_meta
from frontier.models.registry import DERIVED_FOLDER, derived_copy, remove_model, scan


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / DEFAULT_MODEL
    shutil.copyfile(MODELS / DEFAULT_MODEL, path)
    return path


@pytest.mark.parametrize(
    ("isq", "quantization", "device", "expected"),
    [
        ("auto", "Q4_1", "cpu", True),
        ("auto", "q4_1", "cpu", True),
        ("auto", "Q4_0", "cpu", False),  # llama.cpp repacks Q4_0: fast as shipped
        ("auto", "Q8_0", "cpu", False),
        ("auto", "Q4_K_M", "cpu", False),
        (None, "Q4_1", "cpu", False),  # MISTRAL_DEFAULT_QUANTIZATION=none: the file as shipped
        ("auto", "Q4_1", "cuda", False),  # GPU kernels cover Q4_1
        ("auto", "Q4_1", "metal", False),
    ],
)
def test_only_auto_on_cpu_copies_the_slow_type(isq: str | None, quantization: str, device: str,
                                               expected: bool) -> None:
    assert wants_copy(isq, quantization, device) is expected


def test_the_copy_is_q8_0_hidden_from_the_listing_and_made_once(source: Path) -> None:
    copy = ensure_q8_0(source, threads=2)
    assert copy == source.parent / DERIVED_FOLDER / "SmolLM2-135M-Instruct.Q4_1.q8_0.gguf"
    assert read_meta(copy).quantization == "Q8_0"
    assert [entry.name for entry in scan(source.parent)] == [DEFAULT_MODEL]
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no .part left behind
    written = copy.stat().st_mtime_ns
    assert ensure_q8_0(source, threads=2) == copy and copy.stat().st_mtime_ns == written  # reused, not rewritten


def test_a_newer_source_gets_a_new_copy(source: Path) -> None:
    copy = ensure_q8_0(source, threads=2)
    old = copy.stat().st_mtime
    os.utime(copy, (old - 100, old - 100))  # the model file was replaced after the copy was made
    assert ensure_q8_0(source, threads=2) == copy and copy.stat().st_mtime > old - 100


def test_the_copy_predicts_like_the_shipped_file(source: Path) -> None:
    """What makes the copy safe to serve by default: on real text, its next-token distributions match the
    shipped file's (a Q4_0 copy, measured at KL 0.29 and perplexity +17 %, would fail this)."""
    text = (MODELS.parent / "README.md").read_text()
    ids, shipped = log_probs(source, text, tokens=256)
    same_ids, copied = log_probs(ensure_q8_0(source, threads=2), text, tokens=256)
    assert same_ids == ids
    ppl_shipped, copy = drift(ids, shipped, shipped).perplexity, drift(ids, shipped, copied)
    assert copy.kl < 0.03, copy.kl
    assert abs(copy.perplexity / ppl_shipped - 1) < 0.02, (ppl_shipped, copy.perplexity)


def test_no_copy_possible_serves_the_file_as_shipped(source: Path, caplog: pytest.LogCaptureFixture) -> None:
    (source.parent / DERIVED_FOLDER).write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, "frontier.engine"):
        assert ensure_q8_0(source, threads=2) == source
    assert "serving SmolLM2-135M-Instruct.Q4_1.gguf as shipped" in caplog.text


def test_a_file_llamacpp_cannot_read_leaves_no_partial_copy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.Q4_1.gguf"
    broken.write_bytes((MODELS / DEFAULT_MODEL).read_bytes()[:1_000_000])  # header intact, tensors cut off
    with caplog.at_level(logging.WARNING, "frontier.engine"):
        assert ensure_q8_0(broken, threads=2) == broken
    assert "could not write a Q8_0 copy" in caplog.text
    assert list((tmp_path / DERIVED_FOLDER).iterdir()) == []


def test_deleting_the_model_deletes_its_copy(source: Path) -> None:
    copy = ensure_q8_0(source, threads=2)
    removed = remove_model(source.parent, DEFAULT_MODEL)
    assert f"{DERIVED_FOLDER}/{copy.name}" in removed
    assert not source.exists() and not copy.exists() and not derived_copy(source, "q8_0").exists()
