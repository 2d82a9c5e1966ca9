"""No name, path or URL in a request reaches outside the models folder: traversal (`..`), absolute paths,
URL-encoded forms and symlinks that lead out, through the server's and the layer's model routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ollama.conftest import MODEL
from tests.security.conftest import SecuredStack

from fileserver import FileServer

SECRET = b"GGUF not for you"


def _names(stack: SecuredStack) -> list[str]:
    """Names that point outside, each way a client could spell it."""
    return [
        "../outside/secret.gguf", "../../etc/passwd", "/etc/passwd", str(stack.outside / "secret.gguf"),
        "sub/../../outside/secret.gguf", "..%2Foutside%2Fsecret.gguf", "%2e%2e/outside/secret.gguf",
        "..\\outside\\secret.gguf", "escape.gguf/..", "linkdir/secret.gguf",
    ]


def _only_paths(path: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    # `linkdir/secret.gguf` is also a valid name where names are not files: an Ollama-style
    # `namespace/model` alias (kept in .aliases.json) and a hub `owner/repo` to pull. Neither touches the
    # symlink, so there only the path-shaped names must be refused.
    return [] if "linkdir/secret.gguf" in body.values() else [(path, body)]


@pytest.fixture
def linkdir(secured: SecuredStack) -> Iterator[Path]:
    """A symlinked folder inside the models folder that leads outside (as an admin might mount a disk)."""
    link = secured.models / "linkdir"
    link.symlink_to(secured.outside, target_is_directory=True)
    yield link
    link.unlink()


def _outside_intact(stack: SecuredStack) -> None:
    assert (stack.outside / "secret.gguf").read_bytes() == SECRET
    assert sorted(p.name for p in stack.outside.iterdir()) == ["secret.gguf"]
    assert not (stack.models.parent / "evil.gguf").exists()


def _refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.request.url, response.status_code, response.text)
    assert SECRET.decode() not in response.text and "root:" not in response.text


def test_inference_and_management_on_the_server_never_leave_the_folder(secured: SecuredStack, linkdir: Path) -> None:
    auth = secured.auth()
    for name in _names(secured):
        for path, body in (
            ("/v1/chat/completions", {"model": name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}),
            ("/frontier/models/load", {"model": name}),
            ("/frontier/models/delete", {"model": name}),
            ("/frontier/models/copy", {"source": name, "destination": "copied"}),
            *_only_paths("/frontier/models/copy", {"source": "SmolLM2-135M-Instruct.Q4_1.gguf", "destination": name}),
            *_only_paths("/frontier/models/pull", {"model": name}),
        ):
            _refused(httpx.post(secured.server + path, json=body, headers=auth, timeout=60))
    _outside_intact(secured)
    aliases = secured.models / ".aliases.json"
    assert not aliases.exists() or all(".." not in a and not a.startswith("/") for a in json.loads(aliases.read_text()))


def test_a_symlink_inside_that_leads_out_is_never_deleted_through(secured: SecuredStack, linkdir: Path) -> None:
    for name in ("escape.gguf", "linkdir", "linkdir/secret.gguf"):
        _refused(httpx.post(secured.server + "/frontier/models/delete", json={"model": name},
                            headers=secured.auth(), timeout=30))
        _refused(httpx.request("DELETE", secured.layer + "/api/delete", json={"model": name},
                               headers=secured.auth(), timeout=30))
    assert (secured.models / "escape.gguf").is_symlink()
    _outside_intact(secured)


def test_a_pull_never_writes_outside_or_through_a_symlink(secured: SecuredStack) -> None:
    """A loopback file server offers files whose names try to climb out; the pull either lands inside the
    models folder under the URL's last name, or is refused."""
    payload = b"GGUF" + b"\0" * 60
    files = {"escape.gguf": payload, "%2e%2e%2fevil.gguf": payload, "a/..%2F..%2Fevil.gguf": payload}
    with FileServer(files) as server:
        refused = httpx.post(secured.server + "/frontier/models/pull", json={"model": server.url("escape.gguf")},
                             headers=secured.auth(), timeout=60)
        _refused(refused)  # the target is the symlink leading out: not written through
        for name in ("%2e%2e%2fevil.gguf", "a/..%2F..%2Fevil.gguf"):
            response = httpx.post(secured.server + "/frontier/models/pull", json={"model": server.url(name)},
                                  headers=secured.auth(), timeout=60)
            assert response.status_code in (200, 400), response.text
    _outside_intact(secured)
    assert not (secured.models.parent / "evil.gguf").exists()
    landed = secured.models / "evil.gguf"
    if landed.exists():  # decoded to its last name, inside the folder: harmless, and removed for other tests
        landed.unlink()
        for side in secured.models.glob("evil.gguf.*"):
            side.unlink()


def test_the_layer_refuses_the_same_names(secured: SecuredStack, linkdir: Path) -> None:
    auth = secured.auth()
    for name in _names(secured):
        for method, path, body in (
            ("POST", "/api/show", {"model": name}),
            ("POST", "/api/chat", {"model": name, "messages": [{"role": "user", "content": "Hi"}], "stream": False}),
            ("DELETE", "/api/delete", {"model": name}),
            ("POST", "/api/copy", {"source": name, "destination": "copied"}),
            *[("POST", path, body) for path, body in _only_paths("/api/copy", {"source": MODEL, "destination": name})],
            *[("POST", path, body) for path, body in _only_paths("/api/pull", {"model": name, "stream": False})],
        ):
            _refused(httpx.request(method, secured.layer + path, json=body, headers=auth, timeout=60))
    _outside_intact(secured)


@pytest.mark.parametrize("path", [
    "/frontier/models/..%2F..%2Fetc%2Fpasswd", "/v1/models/..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
    "/api/blobs/..%2F..%2Fetc%2Fpasswd",
])
def test_encoded_traversal_in_the_url_path_finds_nothing(secured: SecuredStack, path: str) -> None:
    for base in (secured.server, secured.layer):
        response = httpx.get(base + path, headers=secured.auth(), timeout=10)
        assert response.status_code in (404, 405, 501), (base, path, response.status_code)
        assert "root:" not in response.text
