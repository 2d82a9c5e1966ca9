"""Downloads use https; plain http only to loopback or with --insecure / `insecure: true`. The rule holds on
every request the download client sends, so a redirect cannot downgrade it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frontier.cli.main import app
from frontier.errors import DownloadError, InvalidRequestError
from frontier.models.catalog import ModelFile, UrlSource, load_catalog
from frontier.models.download import fetch_model_file
from frontier.models.pull import plan_pull
from frontier.models.sources import FetchOptions
from frontier.models.url_policy import url_refusal


@pytest.mark.parametrize(
    ("url", "insecure", "allowed"),
    [
        ("https://huggingface.co/x/y/resolve/main/m.gguf", False, True),
        ("http://127.0.0.1:8000/m.gguf", False, True),
        ("http://localhost/m.gguf", False, True),
        ("http://[::1]:80/m.gguf", False, True),
        ("http://127.9.9.9/m.gguf", False, True),
        ("http://mirror.example/m.gguf", False, False),
        ("HTTP://mirror.example/m.gguf", False, False),  # the scheme is case-insensitive
        ("http://127.0.0.1.mirror.example/m.gguf", False, False),  # a name that only starts like loopback
        ("http://mirror.example/m.gguf", True, True),
        ("ftp://mirror.example/m.gguf", True, False),
        ("file:///etc/passwd", True, False),
    ],
)
def test_which_urls_a_download_may_use(url: str, insecure: bool, allowed: bool) -> None:
    reason = url_refusal(url, insecure=insecure)
    assert (reason is None) is allowed, reason
    if reason is not None:
        assert "refusing" in reason


@pytest.mark.parametrize("url", ["http://mirror.example/m.gguf", "HTTP://mirror.example/m.gguf",
                                 "  http://mirror.example/m.gguf"])
def test_a_pull_of_a_plain_http_url_is_refused_before_any_byte(tmp_path: Path, url: str) -> None:
    with pytest.raises(InvalidRequestError, match="plain HTTP"):
        plan_pull(url, load_catalog(), tmp_path)
    assert plan_pull(url, load_catalog(), tmp_path, insecure=True).insecure


class _Redirector:
    """A loopback server whose every GET redirects to `location` (a mirror gone plain-http, say)."""

    def __init__(self, location: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/m.gguf"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def redirector() -> Iterator[_Redirector]:
    # example.invalid never resolves (RFC 6761): were the hook not there, the test would see a DNS error,
    # not the refusal it asserts; nothing leaves loopback either way.
    server = _Redirector("http://mirror.example.invalid/m.gguf")
    yield server
    server.close()


def test_a_redirect_to_plain_http_is_refused(tmp_path: Path, redirector: _Redirector) -> None:
    model_file = ModelFile(quant="", file="m.gguf", sources=(UrlSource(url=redirector.url),))
    with pytest.raises(DownloadError, match="refusing to download over plain HTTP from mirror.example.invalid"):
        fetch_model_file(model_file, tmp_path / "m.gguf", options=FetchOptions(progress=False, attempts=1))
    assert not (tmp_path / "m.gguf").exists()


def test_models_download_refuses_plain_http_and_names_the_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "download", "http://mirror.example.invalid/m.gguf",
                                      "--models-path", str(tmp_path), "--quiet"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "plain HTTP" in result.output and "--insecure" in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".gguf", ".partial"))]
