"""Resumable HTTP transfer of one URL into a `.partial` file (httpx, HTTP Range, rich progress)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from frontier.errors import ChecksumError
from frontier.models.common import SourceError, ensure_free_space

ProgressFn = Callable[[int, int | None], None]  # (bytes held, total bytes or None)

log = logging.getLogger("frontier.models")

# A short connect timeout bounds the time lost on an unreachable source; reads may stall longer on slow links.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteInfo:
    """What the server said about the whole file: its size and, where it vouches for one, its sha256."""

    size: int | None = None
    sha256: str | None = None


class _Interrupted(Exception):
    """The transfer broke after it started; the next attempt resumes from the partial file."""


def download_url(
    client: httpx.Client,
    url: str,
    partial: Path,
    *,
    headers: dict[str, str] | None = None,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    attempts: int = 5,
    retry_delay: float = 1.0,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
) -> RemoteInfo:
    """Brings `partial` to the full file, resuming from what it holds. Raises SourceError or ChecksumError.
    `on_progress(bytes held, total or None)` is called as bytes arrive (the server's pull reports it)."""
    failures = 0
    while True:
        try:
            return _attempt(client, url, partial, headers or {}, expected_size, expected_sha256, progress,
                            on_progress)
        except _Interrupted as exc:
            failures += 1
            if failures >= attempts:
                raise SourceError(f"{exc} (gave up after {attempts} attempts)") from None
            held = partial.stat().st_size if partial.exists() else 0
            log.info("%s: %s; retrying from byte %d", _host(url), exc, held)
            time.sleep(min(retry_delay * 2 ** (failures - 1), 10.0))


def _attempt(
    client: httpx.Client,
    url: str,
    partial: Path,
    headers: dict[str, str],
    expected_size: int | None,
    expected_sha256: str | None,
    progress: bool,
    on_progress: ProgressFn | None,
) -> RemoteInfo:
    offset = partial.stat().st_size if partial.exists() else 0
    if expected_size is not None and offset > expected_size:
        partial.unlink()  # longer than the file can be: not a prefix of it
        offset = 0
    if expected_size is not None and offset == expected_size:
        return RemoteInfo(size=expected_size)
    # identity: the bytes on disk must be the bytes the digest covers, and Content-Length must count them.
    request_headers = {"Accept-Encoding": "identity", **headers}
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    total: int | None = None
    try:
        with client.stream("GET", url, headers=request_headers) as response:
            info = _remote_info(response)
            if response.status_code == 416 and offset:
                # Asked past the end: the partial is the whole file already, or belongs to another one.
                if info.size == offset:
                    return info
                partial.unlink()
                raise _Interrupted("server refused the resume range; starting over")
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code} for {url}")
            _check_remote(info, expected_size, expected_sha256, url)
            if response.status_code == 206:
                if _range_start(response) != offset:
                    partial.unlink(missing_ok=True)
                    raise _Interrupted("server answered a different range than asked; starting over")
                mode = "ab"
            else:
                if offset:
                    log.info("%s ignored the Range request; downloading from the start", _host(url))
                offset, mode = 0, "wb"
            total = info.size if info.size is not None else expected_size
            if total is not None:
                ensure_free_space(partial.parent, total - offset)
            label = partial.name.removesuffix(".partial")
            with partial.open(mode) as out, _progress_bar(progress, label, total, offset) as advance:
                # Unsized reads: every byte received reaches the disk, so a resume starts exactly where the
                # connection broke (a sized chunker would drop its buffered tail on error).
                held = offset
                for chunk in response.iter_raw():
                    out.write(chunk)
                    advance(len(chunk))
                    if on_progress is not None:
                        held += len(chunk)
                        on_progress(held, total)
    except httpx.ConnectError as exc:
        raise SourceError(_describe(exc), unreachable=True) from None
    except httpx.ConnectTimeout as exc:
        raise SourceError(f"connect timed out ({_describe(exc)})", unreachable=True) from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _Interrupted(_describe(exc)) from None
    held = partial.stat().st_size
    if total is not None and held < total:
        raise _Interrupted(f"connection closed at byte {held} of {total}")
    return info


def _remote_info(response: httpx.Response) -> RemoteInfo:
    size: int | None = None
    content_range = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if response.status_code == 206 and content_range and content_range.group(3) != "*":
        size = int(content_range.group(3))
    elif response.status_code == 416:
        total = response.headers.get("content-range", "").rpartition("/")[2]
        size = int(total) if total.isdigit() else None
    elif response.status_code == 200 and response.headers.get("content-length", "").isdigit():
        size = int(response.headers["content-length"])
    # The hub answers /resolve/ with a redirect that names the LFS object's sha256 and size.
    sha256 = None
    for hop in (*response.history, response):
        etag = hop.headers.get("x-linked-etag", "").removeprefix("W/").strip('"').lower()
        if _SHA256.match(etag):
            sha256 = etag
            linked_size = hop.headers.get("x-linked-size", "")
            size = int(linked_size) if size is None and linked_size.isdigit() else size
    return RemoteInfo(size=size, sha256=sha256)


def _check_remote(info: RemoteInfo, size: int | None, sha256: str | None, url: str) -> None:
    """Fails before the transfer when the server announces a different file than the catalog pins."""
    if sha256 and info.sha256 and info.sha256 != sha256:
        raise ChecksumError(f"{url} serves sha256 {info.sha256}, expected {sha256}")
    if size is not None and info.size is not None and info.size != size:
        raise ChecksumError(f"{url} serves {info.size} bytes, expected {size}")


def _range_start(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    return int(match.group(1)) if match else None


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@contextmanager
def _progress_bar(enabled: bool, label: str, total: int | None, done: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda _n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda n: bar.advance(task, n)
