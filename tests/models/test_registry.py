"""The local registry: metadata read from the models' own files, damage flagged, nothing outside the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS
from typer.testing import CliRunner

from frontier.cli.models import app
from frontier.models.registry import scan


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    os.link(MODELS / DEFAULT_MODEL, tmp_path / DEFAULT_MODEL)  # a hard link: no 98 MB copy
    data = (MODELS / DEFAULT_MODEL).read_bytes()
    (tmp_path / "truncated.gguf").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.gguf").write_bytes(b"not a gguf at all" * 100)
    broken = tmp_path / "no-tokenizer"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 2048}))
    (broken / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (tmp_path / f"{DEFAULT_MODEL}.sha256").write_text("x")
    (tmp_path / "other.gguf.partial").write_bytes(b"x")
    return tmp_path


def test_scan_describes_good_models_and_flags_broken_ones(folder: Path) -> None:
    entries = {e.name: e for e in scan(folder)}
    assert set(entries) == {DEFAULT_MODEL, "truncated.gguf", "garbage.gguf", "no-tokenizer"}
    good = entries[DEFAULT_MODEL]
    assert good.ok and good.meta is not None
    assert (good.meta.architecture, good.meta.quantization, good.meta.context_length) == ("llama", "Q4_1", 8192)
    assert good.meta.parameter_count == 134_515_008
    assert not entries["truncated.gguf"].ok and not entries["garbage.gguf"].ok
    assert "tokenizer.json is missing" in entries["no-tokenizer"].problem


def test_check_command_exits_non_zero_when_a_model_is_broken(folder: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    wide = {"COLUMNS": "250"}
    result = CliRunner().invoke(app, ["check", "--models-path", str(folder)], env=wide)
    assert result.exit_code == 1
    assert "broken" in result.output and DEFAULT_MODEL in result.output
    healthy = tmp_path_factory.mktemp("healthy")
    os.link(MODELS / DEFAULT_MODEL, healthy / DEFAULT_MODEL)
    result = CliRunner().invoke(app, ["check", "--models-path", str(healthy)], env=wide)
    assert result.exit_code == 0 and "ok" in result.output


def test_info_reads_one_model_and_refuses_paths_outside_the_folder(folder: Path) -> None:
    ok = CliRunner().invoke(app, ["info", DEFAULT_MODEL, "--models-path", str(folder)], env={"COLUMNS": "250"})
    assert ok.exit_code == 0 and "134,515,008" in ok.output and "Q4_1" in ok.output
    for name in ("../etc/passwd", "/etc/passwd"):
        refused = CliRunner().invoke(app, ["info", name, "--models-path", str(folder)])
        assert refused.exit_code == 1 and "root:" not in refused.output
    missing = CliRunner().invoke(app, ["info", "nope.gguf", "--models-path", str(folder)])
    assert missing.exit_code == 1
