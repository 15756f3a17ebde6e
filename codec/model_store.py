"""Where released weights live on this machine, and how they get there: the cache and its download.

The package ships only the default pair (the 60 MB cap); every other released model
(:mod:`dicodec.codec.zoo`) is installed on first use into a cache, ``$DICODEC_HOME/models`` (default
``$XDG_CACHE_HOME/dicodec/models``, i.e. ``~/.cache/dicodec/models``), either downloaded from the
release assets (``DICODEC_MODEL_URL`` or the zoo's ``base_url``, plus the entry's file name) or copied
from a local file (``dicodec models add``, for air-gapped machines).

Why it is built this way:

* **Only the zoo's hash is trusted.** A file enters the cache only after its sha256 equals the zoo
  entry's; the server, the file name and the safetensors metadata count for nothing. Weights are
  safetensors, read by ``safetensors`` (never ``torch.load``, never pickle), so a file is data and
  is never executed.
* **Nothing half-written.** Bytes go to ``.<file>.part`` next to the final name; the final name is
  created by ``os.replace`` after the hash check and an ``fsync``, so a reader sees a whole, verified
  file or none. A hash mismatch deletes the partial file.
* **Interrupted transfers resume.** A broken-off transfer keeps its ``.part`` file and the next
  attempt (a retry with backoff, or the next run) asks for the rest with an HTTP ``Range`` request;
  a server that ignores ``Range`` is read from the start again.
* **Offline means offline.** With ``DICODEC_OFFLINE=1`` (or ``offline=True``) nothing opens a
  connection; a missing model fails at once with one line saying how to install it.
* **Standard library only** (``urllib.request``): no new dependency on the decode path.

Two processes installing the same file take turns (an ``flock`` on ``.<file>.lock``, where the
platform has it); the second finds the file installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dicodec.codec import zoo
from dicodec.codec.zoo import ZooModel
from dicodec.errors import DicodecError, DownloadError, ModelNotInstalled, WeightsMismatch

HOME_ENV = "DICODEC_HOME"
OFFLINE_ENV = "DICODEC_OFFLINE"
URL_ENV = "DICODEC_MODEL_URL"
PACKAGE_DIR = Path(__file__).with_name("weights")
CHUNK = 1 << 20
RETRIES = 3  # further attempts after the first, each resuming where the last stopped
BACKOFF_S = 1.0  # waits 1, 2, 4 s between attempts
TIMEOUT_S = 30.0  # per socket operation, not for the whole transfer
# Errors of the network or the transfer that a later attempt may not meet again.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


# ----------------------------------------------------------------------------------------------
# Where files are
# ----------------------------------------------------------------------------------------------


def home() -> Path:
    """The cache root: ``$DICODEC_HOME``, else ``$XDG_CACHE_HOME/dicodec``, else ``~/.cache/dicodec``."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dicodec"


def cache_dir() -> Path:
    return home() / "models"


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` when given, else whether ``DICODEC_OFFLINE`` is set to something true."""
    if offline is not None:
        return offline
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def base_url(url: str | None = None) -> str | None:
    """Where release assets are: ``url``, else ``$DICODEC_MODEL_URL``, else the zoo's ``base_url``."""
    return url or os.environ.get(URL_ENV) or zoo.base_url()


def download_url(model: ZooModel, url: str | None = None) -> str | None:
    base = base_url(url)
    return f"{base.rstrip('/')}/{model.asset_name}" if base else None


def locate(model: ZooModel) -> Path | None:
    """The installed file of ``model``: inside the package, else in the cache; ``None`` if neither.

    Presence is enough here; the hash is checked when a file is installed and again when it is loaded.
    """
    for folder in (PACKAGE_DIR, cache_dir()):
        path = folder / model.file
        if path.is_file():
            return path
    return None


def where(model: ZooModel) -> str | None:
    """``"package"``, ``"cache"`` or ``None``: how ``dicodec models`` reports a model."""
    path = locate(model)
    if path is None:
        return None
    return "package" if path.parent == PACKAGE_DIR else "cache"


def install_hint(model: ZooModel) -> str:
    """How to install ``model`` by hand, in one line."""
    return (
        f"run 'dicodec models fetch {model.name}', or 'dicodec models add FILE' with a copy of {model.file} "
        f"(sha256 {model.sha256[:16]}...; in a dicodec clone: "
        f"git show {model.commit[:7]}:codec/weights/{model.file} > {model.file})"
    )


def ensure(
    model: ZooModel, *, offline: bool | None = None, url: str | None = None, progress: bool = True
) -> Path:
    """The path of ``model``'s file, downloading it first when it is missing and that is allowed.

    Raises:
        ModelNotInstalled: missing, and offline or no download location is set.
        DownloadError, WeightsMismatch: the download failed (see :func:`fetch`).
    """
    path = locate(model)
    if path is not None:
        return path
    what, hint = f"model {model.name}", install_hint(model)
    if model.kind == "generative":
        what = f"generative decoder {model.name} of {model.codec}"
        hint += "; or decode with mode fast"
    if is_offline(offline):
        raise ModelNotInstalled(f"{what} is not installed and dicodec is offline: {hint}")
    if download_url(model, url) is None:
        where_from = f"no download location is set ({URL_ENV})"
        raise ModelNotInstalled(f"{what} is not installed and {where_from}: {hint}")
    return fetch(model, url=url, progress=progress, offline=False)


# ----------------------------------------------------------------------------------------------
# Installing
# ----------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks: the one file hash of dicodec (the zoo's
    trust, weights loading, the evaluation's weight files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def add(source: str | os.PathLike[str]) -> tuple[ZooModel, Path, bool]:
    """Install a local copy of a released weights file into the cache (``dicodec models add``).

    The file is recognised by its sha256 alone (its name does not matter) and stored under the zoo's
    file name. Returns ``(model, installed path, whether it was copied now)``; a model already
    installed is left as it is.

    Raises:
        ModelNotInstalled: no released model has this hash (not a dicodec release file, or damaged).
        DicodecError: the file cannot be read or the cache cannot be written.
    """
    src = Path(source)
    try:
        digest = sha256_file(src)
    except OSError as exc:
        raise DicodecError(f"cannot read {source}: {exc.strerror or exc}") from exc
    model = zoo.find_by_sha256(digest)
    if model is None:
        raise ModelNotInstalled(
            f"{source} (sha256 {digest[:16]}...) is no released dicodec model: no zoo entry has this hash "
            "(a different or damaged file); see 'dicodec models' for the released ones"
        )
    existing = locate(model)
    if existing is not None:
        return model, existing, False
    with _installing(model) as (part, final):
        if final.is_file():  # another process installed it while we waited for the lock
            return model, final, False
        try:
            with open(src, "rb") as f, open(part, "wb") as out:
                shutil.copyfileobj(f, out, CHUNK)
        except OSError as exc:
            _discard(part)
            raise DicodecError(f"cannot copy {source} into {final.parent}: {exc.strerror or exc}") from exc
        _verify_and_rename(model, part, final, source=str(source))
    return model, final, True


def fetch(
    model: ZooModel,
    *,
    url: str | None = None,
    progress: bool = True,
    offline: bool | None = None,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
) -> Path:
    """Download ``model``'s file into the cache, resuming and retrying, and return its path.

    Args:
        url: base URL of the release assets (the file is ``url/<asset>``); default :func:`base_url`.
        progress: a tqdm bar on stderr.
        offline: refuse to download (default: ``DICODEC_OFFLINE``).
        retries: further attempts after a failed one; each resumes with an HTTP ``Range`` request.
        backoff_s: wait before the first retry, doubled for each next one.
        timeout_s: socket timeout per operation.

    Raises:
        ModelNotInstalled: offline, or no download location is set.
        DownloadError: unreachable server, HTTP error, or the transfer still incomplete after the
            retries (the partial file is kept for the next run to resume).
        WeightsMismatch: the server's file is not the zoo's (size or sha256); nothing is kept.
    """
    if is_offline(offline):
        raise ModelNotInstalled(f"dicodec is offline ({OFFLINE_ENV}); not downloading {model.name}")
    source = download_url(model, url)
    if source is None:
        raise ModelNotInstalled(f"no download location is set ({URL_ENV}): {install_hint(model)}")
    with _installing(model) as (part, final):
        if final.is_file():
            return final
        error: Exception | None = None
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff_s * 2 ** (attempt - 1))
            try:
                _transfer(model, source, part, progress, timeout_s)
                error = None
                break
            except WeightsMismatch:
                _discard(part)
                raise
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 429) and exc.code < 500:  # the server's answer will not change
                    raise DownloadError(
                        f"cannot download {model.name} from {source}: HTTP {exc.code} {exc.reason}"
                    ) from None
                error = exc
            except _TRANSIENT as exc:
                error = exc
            except OSError as exc:  # the cache side: disk full, permissions
                raise DicodecError(f"cannot write {part}: {exc.strerror or exc}") from exc
        if error is not None:
            have = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"cannot download {model.name} from {source} ({_reason(error)}) after {retries + 1} "
                f"attempts; {have} of {model.size} bytes kept to resume: run the command again, or "
                f"{install_hint(model)}"
            )
        _verify_and_rename(model, part, final, source=source)
    return final


def _transfer(model: ZooModel, source: str, part: Path, progress: bool, timeout_s: float) -> None:
    """One attempt: append the missing bytes of ``source`` to ``part`` (or restart it)."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > model.size:  # not a prefix of the zoo's file
        part.unlink()
        offset = 0
    if offset == model.size:
        return  # complete: the hash check decides
    from dicodec.version import __version__

    headers = {"User-Agent": f"dicodec/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(source, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the kept bytes are no prefix of the server's file: start again
            part.unlink()
            raise http.client.HTTPException("the server refused to resume (HTTP 416)") from exc
        raise
    with response:
        status = getattr(response, "status", None)
        if offset and status != 206:
            offset = 0  # the server ignored Range (or a file:// URL): it sends everything again
        elif offset and not _content_range_starts_at(response, offset):
            raise http.client.HTTPException(f"the server's range does not start at byte {offset}")
        total = _announced_size(response, offset)
        if total is not None and total != model.size:
            _discard(part)
            raise WeightsMismatch(
                f"{source} is {total} bytes, {model.name} is {model.size}: the server holds a different "
                "file; nothing was installed"
            )
        with open(part, "r+b" if offset else "wb") as out, _progress_bar(model, offset, progress) as bar:
            out.seek(offset)
            out.truncate()
            _copy_body(model, response, out, offset, bar)


def _copy_body(model: ZooModel, response: BinaryIO, out: BinaryIO, offset: int, bar) -> None:
    written = offset
    try:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > model.size:
                raise WeightsMismatch(
                    f"the server sent more than the {model.size} bytes of {model.name}: a different file; "
                    "nothing was installed"
                )
            out.write(chunk)
            bar.update(len(chunk))
    finally:
        out.flush()
    if written < model.size:  # the connection closed early without an error
        raise http.client.IncompleteRead(b"", model.size - written)


def _content_range_starts_at(response, offset: int) -> bool:
    value = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def _announced_size(response, offset: int) -> int | None:
    """The whole file's size as the response states it, when it does."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        with contextlib.suppress(ValueError):
            return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is not None and not offset:
        with contextlib.suppress(ValueError):
            return int(length)
    return None


def _verify_and_rename(model: ZooModel, part: Path, final: Path, source: str) -> None:
    """Give ``part`` the final name only if it is the zoo's file; delete it otherwise."""
    digest = sha256_file(part)
    if digest != model.sha256:
        _discard(part)
        raise WeightsMismatch(
            f"{source} has sha256 {digest[:16]}..., {model.name} has {model.sha256[:16]}...: "
            "a different or damaged file; nothing was installed"
        )
    try:
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, final)
        _fsync_dir(final.parent)
    except OSError as exc:
        _discard(part)
        raise DicodecError(f"cannot install {final}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def _installing(model: ZooModel) -> Iterator[tuple[Path, Path]]:
    """``(partial file, final path)`` in the cache, held under the file's lock."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / f".{model.file}.lock", "a+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DicodecError(f"cannot write to the model cache {folder}: {exc.strerror or exc}") from exc
    with lock:
        _lock(lock)
        yield folder / f".{model.file}.part", folder / model.file


def _lock(f: BinaryIO) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent installs of one file are the user's to avoid
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); directories cannot be opened for fsync on Windows."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def _progress_bar(model: ZooModel, offset: int, enabled: bool):
    from tqdm import tqdm

    with tqdm(
        total=model.size,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1000,  # decimal units, as the rest of dicodec prints sizes
        desc=model.name,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
    ) as bar:
        yield bar
