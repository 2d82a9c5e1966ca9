"""Verified, resumable, concurrency-safe downloads of model files into the models folder.

A file is fetched into `<name>.partial` from its sources in order, checked against its size and sha256,
and only then renamed to `<name>`: a file under its final name is always complete. `<name>.lock` (flock)
serialises fetches of the same file across threads and processes; `<name>.sha256` records a successful hash
so that later starts check the size only.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from urllib.parse import unquote, urlsplit

import httpx

from frontier.config import Settings
from frontier.errors import ChecksumError, DownloadError, ModelNotFoundError
from frontier.models import bert_gguf
from frontier.models.catalog import Catalog, HfSource, ModelFile, UrlSource, load_catalog
from frontier.models.common import SourceError, ensure_free_space
from frontier.models.sources import FetchOptions, fetch_source, hf_repo_files, subject
from frontier.models.url_policy import https_only_hook

log = logging.getLogger("frontier.models")

_HASH_CHUNK = 1 << 20
_PREFERRED_QUANT = "q4_k_m"


def safe_target(models_dir: Path, name: str) -> Path:
    """`models_dir/name`, refused (DownloadError) for absolute names, `..`, or anything resolving outside."""
    relative = PurePath(name)
    if not name.strip() or relative.is_absolute() or ".." in relative.parts or "\\" in name or "\x00" in name:
        raise DownloadError(f"refusing to write {name!r}: model file names must stay inside {models_dir}")
    root = models_dir.resolve()
    target = (root / relative).resolve()
    if target == root or not target.is_relative_to(root):
        raise DownloadError(f"refusing to write {name!r}: it resolves outside {models_dir}")
    return target


def fetch_model_file(model_file: ModelFile, target: Path, *, options: FetchOptions | None = None) -> Path:
    """Makes `target` hold `model_file`, verified, and returns it; waits while another fetch of it runs."""
    options = options or FetchOptions()
    if _recorded_ok(target, model_file):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target):
        if _existing_ok(target, model_file):  # another process may have finished it while we waited
            return target
        return _fetch_locked(model_file, target, options)


def ensure_default_model(
    settings: Settings, *, catalog: Catalog | None = None, options: FetchOptions | None = None
) -> Path:
    """The configured model file, fetched through the catalog's ordered sources when missing or damaged."""
    model_id = Path(settings.mistral_model_id)
    # An absolute MISTRAL_MODEL_ID is the operator's explicit choice of place; a relative one stays inside.
    if model_id.is_absolute():
        target = model_id
    else:
        target = safe_target(settings.mistral_models_path, settings.mistral_model_id)
    if settings.mistral_model_type != "gguf":
        if target.exists():
            return target
        raise DownloadError(f"{target} does not exist; only catalog GGUF files are fetched automatically")
    resolved = (catalog or load_catalog(extra=settings.frontier_catalog)).by_filename(target.name)
    if resolved is None:
        if target.is_file():
            return target
        raise DownloadError(
            f"{target} does not exist and {target.name!r} is not in the model catalog "
            "(see `frontier models list-available`)"
        )
    return fetch_model_file(resolved.file, target, options=options)


def plan_download(
    ref: str,
    catalog: Catalog,
    *,
    quant: str | None = None,
    sha256: str | None = None,
    options: FetchOptions | None = None,
) -> ModelFile:
    """`catalog-name[:quant]` | Ollama name | `hf-owner/repo[/file]` | URL -> the file to fetch."""
    if urlsplit(ref).scheme.lower() in ("http", "https"):
        name = Path(unquote(urlsplit(ref).path)).name
        return ModelFile(quant=quant or "", file=name, sha256=sha256, sources=(UrlSource(url=ref),))
    try:
        resolved = catalog.resolve(ref)
        return resolved.entry.file_for(quant) if quant else resolved.file
    except ModelNotFoundError:
        if ref.count("/") < 1:
            raise
    repo_part, _, ref_quant = ref.partition(":")  # llama.cpp's `owner/repo:Q8_0` form
    parts = repo_part.strip("/").split("/")
    repo = "/".join(parts[:2])
    if len(parts) > 2:
        filename = "/".join(parts[2:])
    else:
        files = hf_repo_files(repo, options or FetchOptions())
        filename = _pick_gguf(repo, files, quant or ref_quant or None)
    source = HfSource(hf=repo, file=filename)
    return ModelFile(quant=quant or ref_quant, file=filename, sha256=sha256, sources=(source,))


def _pick_gguf(repo: str, files: list[str], quant: str | None) -> str:
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    wanted = (quant or _PREFERRED_QUANT).lower()
    matching = [f for f in ggufs if wanted in Path(f).name.lower()]
    if len(ggufs) == 1 and quant is None:
        return ggufs[0]
    if len(matching) == 1:
        return matching[0]
    listing = ", ".join(Path(f).name for f in (matching or ggufs)) or "none"
    raise DownloadError(f"{repo}: cannot choose a GGUF file for quant {wanted!r} among: {listing}; "
                        f"name one as {repo}/<file>")


def _fetch_locked(model_file: ModelFile, target: Path, options: FetchOptions) -> Path:
    partial = target.with_name(target.name + ".partial")
    sources = model_file.sources
    if not sources:
        raise DownloadError(f"{model_file.file} lists no source to fetch it from")
    if model_file.size is not None:
        held = partial.stat().st_size if partial.exists() else 0
        ensure_free_space(target.parent, model_file.size - held)
    failures: list[str] = []
    checksum_only = True
    hooks = {"request": [https_only_hook(options.insecure)]}
    with httpx.Client(timeout=options.timeout, follow_redirects=True, event_hooks=hooks) as client:
        for index, source in enumerate(sources):
            if index and model_file.sha256 is None:
                # Bytes left by another source may be resumed only when a digest will vouch for the mix.
                partial.unlink(missing_ok=True)
            try:
                info = fetch_source(source, partial, size=model_file.size, sha256=model_file.sha256,
                                    client=client, options=options)
                digest = _verify(partial, model_file.size or info.size, model_file.sha256 or info.sha256)
            except (SourceError, ChecksumError) as exc:
                if isinstance(exc, ChecksumError):
                    partial.unlink(missing_ok=True)
                else:
                    checksum_only = False
                failures.append(f"{source.label}: {exc}")
                if index + 1 < len(sources):
                    state = "unreachable" if isinstance(exc, SourceError) and exc.unreachable else "failed"
                    log.warning("%s %s (%s); fetching from %s instead",
                                subject(source), state, exc, sources[index + 1].label)
                continue
            if model_file.convert == "bert-zip":  # the verified source, made into the served file
                made = target.with_name(target.name + ".converting")
                bert_gguf.convert_zip(partial, made, Path(model_file.file).stem)
                os.replace(made, target)
                partial.unlink(missing_ok=True)
            else:
                os.replace(partial, target)
            if digest is not None:
                _write_sidecar(target, digest)
            log.info("fetched %s from %s", target, source.label)
            return target
    error = ChecksumError if checksum_only else DownloadError
    raise error(f"could not fetch {model_file.file}:\n  " + "\n  ".join(failures))


def _verify(path: Path, size: int | None, sha256: str | None) -> str | None:
    """Raises ChecksumError on a size or digest mismatch; returns the digest when one was checked."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{path.name}: {actual_size} bytes, expected {size}")
    if sha256 is None:
        return None
    digest = _sha256(path)
    if digest != sha256:
        raise ChecksumError(f"{path.name}: sha256 {digest}, expected {sha256}")
    return digest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _write_sidecar(target: Path, digest: str) -> None:
    try:
        _sidecar(target).write_text(f"{digest}  {target.name}\n", encoding="utf-8")
    except OSError as exc:  # a read-only models folder still serves; it just rehashes next time
        log.debug("cannot record %s: %s", _sidecar(target), exc)


def _recorded_ok(target: Path, model_file: ModelFile) -> bool:
    """Fast path: right size and a sidecar newer than the file that records the expected digest (for a
    converted file, its source's digest: the sidecar is the only record of it)."""
    try:
        stat, recorded = target.stat(), _sidecar(target).stat()
        words = _sidecar(target).read_text(encoding="utf-8").split()
    except OSError:
        return False
    if model_file.size is not None and stat.st_size != model_file.size and model_file.convert is None:
        return False
    if recorded.st_mtime_ns < stat.st_mtime_ns:  # the file changed after it was hashed
        return False
    return bool(words) and (model_file.sha256 is None or words[0] == model_file.sha256)


def _existing_ok(target: Path, model_file: ModelFile) -> bool:
    """Checks a file already in place, hashing it once if no sidecar vouches for it."""
    if not target.is_file():
        return False
    if _recorded_ok(target, model_file):
        return True
    if model_file.convert is not None:  # no sidecar vouches for the source it was made from: make it again
        return False
    try:
        digest = _verify(target, model_file.size, model_file.sha256)
    except ChecksumError as exc:
        log.warning("%s does not match the catalog (%s); fetching it again", target, exc)
        return False
    if digest is not None:
        _write_sidecar(target, digest)
    return True


@contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    """flock on `<name>.lock`: held per open file, so it excludes other threads as well as other processes."""
    with target.with_name(target.name + ".lock").open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another download of %s to finish", target.name)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
