"""perf-check: CPU facts parsing, each recommendation rule on hand-built facts, and the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import DEFAULT_MODEL, MODELS
from typer.testing import CliRunner

from frontier.cli.main import app
from frontier.config import Settings
from frontier.engine import perf_check as pc
from frontier.engine.device import DeviceChoice, Hardware
from frontier.engine.report import setting_effects
from frontier.models.inspect import ModelMeta

X86 = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512bw\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\nCPU part\t: 0xd40\n"


def test_read_cpuinfo_takes_model_and_flags_on_x86_and_arm():
    x86 = pc.read_cpuinfo(X86)
    assert x86.model == "AMD EPYC 9R14"
    assert {"avx2", "avx512f"} <= x86.flags
    assert {"asimd", "i8mm"} <= pc.read_cpuinfo(ARM).flags


def _facts(settings: Settings | None = None, *, quant: str = "Q4_1", isq: str | None = None, device: str = "cpu",
           gpu: bool = False, rayon: int | None = None, cores: int = 2, simd: tuple[str, ...] = ("avx2",)
           ) -> pc.Facts:
    s = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    choice = DeviceChoice(device, "test")
    hw = Hardware("Linux", "x86_64", gpu, frozenset({"cpu"}))
    return pc.Facts(
        system="Linux", machine="x86_64", cpu_model="test", logical_cores=cores, usable_cores=cores,
        simd=list(simd), hardware=hw, device=choice, engine_version="0.9.5",
        engine_build=pc.engine_build("0.9.5", hw), rayon_threads=rayon, settings=s,
        effects=setting_effects(s, choice), model_meta=ModelMeta(format="gguf", quantization=quant), isq=isq,
    )


def _variables(facts: pc.Facts) -> dict[str, pc.Recommendation]:
    return {r.variable: r for r in pc.recommend(facts)}


def test_q4_1_gguf_on_cpu_without_isq_is_told_to_use_q8_0():
    rec = _variables(_facts(quant="Q4_1", isq=None))["MISTRAL_DEFAULT_QUANTIZATION"]
    assert rec.level == "change" and "q8_0" in rec.suggestion and "scalar" in rec.reason


def test_on_llamacpp_the_q4_1_advice_is_the_q8_0_copy_of_auto():
    facts = _facts(quant="Q4_1", isq=None)
    facts.engine_choice = "llamacpp (GGUF on CPU: llama.cpp is the faster CPU engine)"
    rec = _variables(facts)["MISTRAL_DEFAULT_QUANTIZATION"]
    assert rec.suggestion == "auto" and "Q8_0 copy" in rec.reason and "scalar" not in rec.reason


def test_no_quantization_advice_when_q8_0_is_already_in_effect_or_the_type_has_simd():
    assert "MISTRAL_DEFAULT_QUANTIZATION" not in _variables(_facts(quant="Q4_1", isq="q8_0"))
    assert "MISTRAL_DEFAULT_QUANTIZATION" not in _variables(_facts(quant="Q4_K_M", isq=None))


def test_slow_cpu_isq_types_get_a_consider():
    assert _variables(_facts(quant="F16", isq="q4k"))["MISTRAL_DEFAULT_QUANTIZATION"].level == "consider"


def test_oversubscribed_rayon_threads_are_flagged():
    rec = _variables(_facts(isq="q8_0", rayon=8, cores=2))["RAYON_NUM_THREADS"]
    assert rec.suggestion == "2" and rec.level == "change"
    assert "RAYON_NUM_THREADS" not in _variables(_facts(isq="q8_0", rayon=2, cores=2))


def test_prefix_cache_off_and_serial_serving_are_pointed_out():
    s = Settings(_env_file=None, mistral_prefix_cache_n=0, mistral_enable_continuous_batching=False)  # type: ignore[call-arg]
    recs = _variables(_facts(s, isq="q8_0"))
    assert "MISTRAL_PREFIX_CACHE_N" in recs
    assert "MISTRAL_ENABLE_CONTINUOUS_BATCHING / MISTRAL_MAX_BATCH_SIZE" in recs


def test_a_large_batch_on_few_cpu_threads_is_questioned():
    s = Settings(_env_file=None, mistral_max_batch_size=64)  # type: ignore[call-arg]
    assert _variables(_facts(s, isq="q8_0", cores=2))["MISTRAL_MAX_BATCH_SIZE"].suggestion == "8"
    assert "MISTRAL_MAX_BATCH_SIZE" not in _variables(_facts(isq="q8_0", cores=2))  # default 8 on 2 cores


def test_an_unused_nvidia_gpu_is_reported():
    assert _variables(_facts(isq="q8_0", gpu=True))["ENABLE_CUDA"].suggestion == "true"


def test_gpu_settings_are_reported_as_not_passed_to_the_engine_on_gpus_only():
    name = "MISTRAL_MEMORY_FRACTION / MISTRAL_ENABLE_MEMORY_POOLING / MISTRAL_USE_FLASH_ATTENTION"
    assert name not in _variables(_facts(isq="q8_0"))
    rec = _variables(_facts(device="cuda", isq=None, quant="Q4_K_M"))[name]
    assert rec.level == "info" and "does not pass" in rec.reason


def test_gather_reads_this_machine_and_the_default_model():
    settings = Settings(_env_file=None, mistral_models_path=MODELS)  # type: ignore[call-arg]
    facts = pc.gather(settings)
    assert facts.model_meta is not None and facts.model_meta.quantization == "Q4_1"
    assert facts.usable_cores >= 1 and facts.threads >= 1
    if facts.device.device == "cpu":  # auto quantization re-quantizes the scalar Q4_1 on CPU
        assert facts.isq == "q8_0"
        assert "MISTRAL_DEFAULT_QUANTIZATION" not in _variables(facts)


def test_perf_check_command_prints_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MISTRAL_MODELS_PATH", str(MODELS))
    monkeypatch.setenv("MISTRAL_MODEL_ID", DEFAULT_MODEL)
    monkeypatch.setenv("MISTRAL_PREFIX_CACHE_N", "0")
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    out = tmp_path / "perf.json"
    result = CliRunner().invoke(app, ["perf-check", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "acceleration" in result.output and "mistralrs" in result.output
    doc = json.loads(out.read_text())
    assert set(doc) >= {"platform", "acceleration", "engine", "threads", "model", "settings", "recommendations"}
    assert doc["model"]["quantization"] == "Q4_1"
    assert "MISTRAL_PREFIX_CACHE_N" in {r["variable"] for r in doc["recommendations"]}


def test_perf_check_refuses_invalid_settings_with_the_variable_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MISTRAL_DEFAULT_QUANTIZATION", "q9_9")
    result = CliRunner().invoke(app, ["perf-check"])
    assert result.exit_code == 2
    assert "MISTRAL_DEFAULT_QUANTIZATION" in result.output
