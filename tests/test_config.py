"""Settings: defaults, .env then environment precedence, and clear errors naming variable, value and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontier.config import Settings, load_settings, normalise_isq, parse_size
from frontier.errors import ConfigError

ALL_VARIABLES = {
    "MISTRAL_API_PORT", "MISTRAL_MODELS_PATH", "MISTRAL_MEMORY_LIMIT", "MISTRAL_MEMORY_RESERVATION",
    "MISTRAL_LOG_LEVEL", "MISTRAL_MAX_BATCH_SIZE", "MISTRAL_MODEL_TYPE", "MISTRAL_MODEL_ID", "ENABLE_METAL",
    "ENABLE_CUDA", "MISTRAL_DEVICE", "MISTRAL_USE_FLASH_ATTENTION", "MISTRAL_METAL_HEAP_SIZE",
    "MISTRAL_MEMORY_FRACTION", "MISTRAL_ENABLE_MEMORY_POOLING", "MISTRAL_MAX_SEQ_LEN",
    "MISTRAL_ENABLE_CONTINUOUS_BATCHING", "MISTRAL_DEFAULT_QUANTIZATION", "MISTRAL_PREFIX_CACHE_N", "MISTRAL_HOST",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARIABLES | {"OLLAMA_API_PORT", "FRONTIER_UPSTREAM_URL"}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_the_documented_values() -> None:
    s = Settings()
    assert (s.mistral_api_port, s.mistral_host, s.mistral_log_level) == (8080, "127.0.0.1", "info")
    assert (s.mistral_memory_limit, s.mistral_memory_reservation) == ("64G", "32G")
    assert (s.mistral_max_batch_size, s.mistral_model_type, s.mistral_max_seq_len) == (8, "gguf", 32768)
    assert (s.enable_metal, s.enable_cuda, s.mistral_device) == (True, False, "auto")
    assert s.mistral_memory_fraction == 0.9 and s.mistral_enable_continuous_batching is True
    assert s.mistral_models_path == Path("models") and s.mistral_model_id.endswith(".gguf")
    assert s.ollama_api_host == "127.0.0.1" and s.ollama_api_port == 11434


def test_every_documented_variable_is_a_setting_and_in_env_example() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert fields >= ALL_VARIABLES
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for name in fields:
        assert f"{name}=" in example, f"{name} missing from .env.example"


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("MISTRAL_API_PORT=9000\nMISTRAL_LOG_LEVEL=DEBUG\n")
    assert load_settings().mistral_api_port == 9000
    assert load_settings().mistral_log_level == "debug"
    monkeypatch.setenv("MISTRAL_API_PORT", "9100")
    assert load_settings().mistral_api_port == 9100


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("MISTRAL_API_PORT", "eighty", "MISTRAL_API_PORT='eighty'"),
        ("MISTRAL_API_PORT", "70000", "less than or equal to 65535"),
        ("MISTRAL_MODEL_TYPE", "onnx", "'plain', 'gguf', 'lora', 'x-lora' or 'toml'"),
        ("MISTRAL_DEVICE", "tpu", "'auto', 'cpu', 'cuda' or 'metal'"),
        ("MISTRAL_MEMORY_LIMIT", "lots", "expected e.g. 512M"),
        ("MISTRAL_MEMORY_FRACTION", "1.5", "less than or equal to 1"),
        ("MISTRAL_DEFAULT_QUANTIZATION", "q3_banana", "allowed: auto, none"),
        ("MISTRAL_MAX_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("ENABLE_CUDA", "maybe", "ENABLE_CUDA='maybe'"),
        ("MISTRAL_LOG_LEVEL", "loud", "MISTRAL_LOG_LEVEL"),
    ],
)
def test_invalid_values_name_variable_value_and_rule(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert name in message and repr(value) in message and words in message


def test_sizes_and_quantization_names() -> None:
    assert parse_size("64G") == 64 * 2**30 and parse_size("512m") == 512 * 2**20 and parse_size("1.5GiB") > 2**30
    assert normalise_isq("Q8_0") == "q8_0" and normalise_isq("q5_k_m") == "q5k" and normalise_isq("none") is None
    assert normalise_isq("auto") == "auto"


def test_upstream_defaults_to_the_local_server() -> None:
    assert Settings(mistral_api_port=8123).upstream_url == "http://127.0.0.1:8123"
    assert Settings(mistral_host="0.0.0.0").upstream_url == "http://127.0.0.1:8080"
    assert Settings(frontier_upstream_url="http://x:1/").upstream_url == "http://x:1"


def test_errors_cross_a_process_with_their_words_and_fields() -> None:
    """A Ray Serve replica's refusal reaches the ingress pickled: it must arrive as it left (each subclass takes
    other constructor arguments than its message)."""
    import pickle

    from frontier.engine.remote.faults import UpstreamRejected
    from frontier.errors import ContextLengthError, ModelNotFoundError, PayloadTooLargeError

    for error in (ModelNotFoundError("nope"), PayloadTooLargeError(5), UpstreamRejected(404, "gone"),
                  ContextLengthError("too long", prompt_tokens=9, limit=8)):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error) and again.__dict__ == error.__dict__
