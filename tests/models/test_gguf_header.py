"""The fast GGUF header reader agrees with the `gguf` package's reader on the real default model."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from frontier.models.gguf_header import HeaderError, read_header

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def reference() -> gguf.GGUFReader:
    return gguf.GGUFReader(DEFAULT)


def test_tensor_table_matches_the_gguf_package(reference: gguf.GGUFReader) -> None:
    header = read_header(DEFAULT)
    ours = {t.name: (t.n_elements, t.n_bytes, t.offset) for t in header.tensors}
    theirs = {t.name: (int(t.n_elements), int(t.n_bytes), int(t.data_offset)) for t in reference.tensors}
    assert ours == theirs
    assert max(t.offset + t.n_bytes for t in header.tensors) == DEFAULT.stat().st_size


def test_scalar_and_string_fields_match_and_arrays_are_counted(reference: gguf.GGUFReader) -> None:
    fields = read_header(DEFAULT).fields
    assert set(fields) == {key for key in reference.fields if not key.startswith("GGUF.")}
    for key in ("general.architecture", "llama.context_length", "general.file_type", "tokenizer.chat_template"):
        assert fields[key] == reference.fields[key].contents()
    assert fields["tokenizer.ggml.tokens"] == len(reference.fields["tokenizer.ggml.tokens"].contents())


@pytest.mark.parametrize("cut", [3, 40, 5000, 1_500_000])
def test_a_header_cut_short_is_a_header_error_not_a_crash(tmp_path: Path, cut: int) -> None:
    broken = tmp_path / "cut.gguf"
    broken.write_bytes(DEFAULT.read_bytes()[:cut])
    with pytest.raises(HeaderError):
        read_header(broken)
