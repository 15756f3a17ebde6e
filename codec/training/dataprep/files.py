"""File helpers every step shares: progress lines, subprocesses, hashes, names and idempotent writes.

Writes go through :func:`write_if_changed`, so a re-run leaves files whose bytes did not change alone
(their modification times too): rebuilding the data is cheap to check and never churns a carried folder.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from dicodec.codec.model_store import sha256_file  # the one file hash of dicodec (scan.py uses it)

__all__ = ["log", "run_command", "safe_name", "sha256_bytes", "sha256_file", "write_if_changed"]


def log(msg: str) -> None:
    """One progress line, flushed at once (a run takes minutes and its output is often piped)."""
    print(msg, flush=True)


def run_command(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` and capture its output; the caller decides whether a failure matters."""
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` unless ``path`` already holds exactly these bytes."""
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def safe_name(image_id: str) -> str:
    """A file name for an image id: ``lomiri/Wine_by_X`` -> ``lomiri__Wine_by_X``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image_id.replace("/", "__"))
