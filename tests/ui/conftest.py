"""A real browser (Debian's Chromium through Playwright) and one live stack for the page tests: the default
model under two names (hard links, so switching models really loads a second one), an API key and CORS set."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from tests.conftest import DEFAULT_MODEL, MODELS, REPO, ServerProcess

SECOND_MODEL = "smollm2-second-name.gguf"


def chromium_path() -> str:
    found = os.environ.get("FRONTIER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    # The README's `make test` installs it first; a bare pytest run gets the same, or says why not.
    done = subprocess.run([str(REPO / "scripts" / "fetch-chromium.sh")], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(done.stderr.strip())
    return done.stdout.strip()


@dataclass
class Stack:
    server: ServerProcess
    key: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def stack(start_server, tmp_path_factory: pytest.TempPathFactory) -> Stack:  # type: ignore[no-untyped-def]
    models = tmp_path_factory.mktemp("ui-models")
    os.link(MODELS / DEFAULT_MODEL, models / DEFAULT_MODEL)
    os.link(MODELS / DEFAULT_MODEL, models / SECOND_MODEL)
    key = "sk-ui-" + secrets.token_hex(8)
    server = start_server({"MISTRAL_MODELS_PATH": str(models), "FRONTIER_API_KEY": key,
                           "FRONTIER_CORS_ORIGINS": "http://elsewhere.example", "MISTRAL_MAX_LOADED_MODELS": "2"})
    return Stack(server, key)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox refuses to start as root, which the test machines are.
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh browser profile with the right key already entered (as after the key dialog, once)."""
    context = browser.new_context(base_url=stack.url, accept_downloads=True)
    context.add_init_script(f"if (!localStorage.getItem('frontier.apiKey')) "
                            f"localStorage.setItem('frontier.apiKey', {stack.key!r});")
    p = context.new_page()
    p.set_default_timeout(60_000)
    yield p
    context.close()


@pytest.fixture
def bare_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh profile with no key: what a person sees the first time."""
    context = browser.new_context(base_url=stack.url)
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()

