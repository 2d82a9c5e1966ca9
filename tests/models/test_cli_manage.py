"""`frontier models rm` and `frontier models configure` on a real models folder (hard links of the default)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frontier.cli.models import app
from frontier.engine.mistralrs import loader
from frontier.models.aliases import read_aliases, update_aliases

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    os.link(DEFAULT, folder / "a.gguf")
    (folder / "a.gguf.sha256").write_text("x  a.gguf\n")
    return folder


def run(*args: str, answer: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=answer)
    return result.exit_code, result.output


def test_rm_with_yes_deletes_the_model_and_its_side_files(models: Path) -> None:
    code, out = run("rm", "a.gguf", "--models-path", str(models), "--yes")
    assert code == 0, out
    assert "a.gguf" in out
    assert not (models / "a.gguf").exists() and not (models / "a.gguf.sha256").exists()


def test_rm_asks_first_and_keeps_the_model_when_told_no(models: Path) -> None:
    code, out = run("rm", "a.gguf", "--models-path", str(models), answer="n\n")
    assert code == 1
    assert "Delete a.gguf (98.4 MB)?" in out
    assert (models / "a.gguf").exists()


@pytest.mark.parametrize("name", ["../outside.gguf", "/etc/hostname", "x/../../outside.gguf"])
def test_rm_refuses_names_outside_the_models_folder(models: Path, name: str) -> None:
    outside = models.parent / "outside.gguf"
    outside.write_text("keep me")
    code, out = run("rm", name, "--models-path", str(models), "--yes")
    assert code == 1
    assert "error" in out
    assert outside.read_text() == "keep me" and Path("/etc/hostname").exists()


def test_rm_of_an_alias_removes_only_the_alias(models: Path) -> None:
    update_aliases(models, lambda table: table.__setitem__("mine:latest", "a.gguf"))
    code, out = run("rm", "mine:latest", "--models-path", str(models), "--yes")
    assert code == 0, out
    assert read_aliases(models) == {} and (models / "a.gguf").exists()


def test_deleting_a_model_drops_the_aliases_pointing_at_it(models: Path) -> None:
    update_aliases(models, lambda table: table.__setitem__("mine:latest", "a.gguf"))
    assert run("rm", "a.gguf", "--models-path", str(models), "--yes")[0] == 0
    assert read_aliases(models) == {}


def test_rm_of_a_missing_model_fails_cleanly(models: Path) -> None:
    code, out = run("rm", "nope.gguf", "--models-path", str(models), "--yes")
    assert code == 1 and "no model 'nope.gguf'" in out


def test_configure_writes_a_selector_the_loader_accepts(models: Path) -> None:
    code, out = run("configure", "a.gguf", "--models-path", str(models))
    assert code == 0, out
    selector = models / "a.toml"
    assert out.strip() == str(selector)
    assert tomllib.loads(selector.read_text())["model"] == {
        "kind": "gguf", "quantized_model_id": ".", "quantized_filename": "a.gguf"}
    which, shown = loader.which_for("toml", selector)
    assert shown == "a.toml"
    assert type(which).__name__.endswith("GGUF")


def test_configure_refuses_a_damaged_model(models: Path) -> None:
    (models / "bad.gguf").write_bytes(DEFAULT.read_bytes()[:4096])
    code, out = run("configure", "bad.gguf", "--models-path", str(models))
    assert code == 1 and "error" in out
