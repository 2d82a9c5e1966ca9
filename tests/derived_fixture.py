"""The derived test models (plain, LoRA, X-LoRA, TOML selector), built once from the default GGUF.

The first session builds them into `<repo>/.cache/derived` (about 6 s, 0.65 GB); later sessions reuse them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from derive_models import DerivedModels, ensure_derived

_REPO = Path(__file__).resolve().parent.parent
_DEFAULT_GGUF = _REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def derived_models() -> DerivedModels:
    if not _DEFAULT_GGUF.is_file():
        pytest.fail(f"the default model is missing: {_DEFAULT_GGUF} (the engine notes say where to get it)")
    return ensure_derived(_REPO / ".cache" / "derived", _DEFAULT_GGUF)
