"""All-or-nothing output files for the command line.

A codec run can take seconds and can fail at any point: a corrupt chunk, a missing weight file, a
full disk, Ctrl-C. A half-written ``.dic`` or ``.png`` is worse than none, because the next tool in a
pipeline cannot tell it from a good one. So every file the CLI writes goes through
:func:`atomic_write`: the bytes go to a temporary file in the output's directory (same filesystem,
so the final rename is atomic), are flushed to disk, and only then take the output's name. On any
failure the temporary file is removed and the output path is left exactly as it was.

Overwriting is opt-in (``--force``), and the no-clobber check is itself atomic where the filesystem
allows it: the finished temporary file is hard-linked to the output name, which fails if something
else created that name in the meantime.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dicodec.errors import DicodecError

STDIO = "-"  # the conventional name for stdin / stdout


class OutputExistsError(DicodecError):
    """The output file already exists and ``--force`` was not given."""


def is_stdio(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``-``, the name for stdin (as input) or stdout (as output)."""
    return os.fspath(path) == STDIO


def check_output(path: str | os.PathLike[str], force: bool = False) -> None:
    """Fail early, before any slow work, if ``path`` cannot become the output.

    :func:`atomic_write` checks again at the end (something may have appeared meanwhile); this
    early check only saves the user from waiting for an encode whose result would be refused.

    Args:
        path: output file name, or ``-`` for stdout.
        force: allow replacing an existing file.

    Raises:
        OutputExistsError: the file exists and ``force`` is false.
        DicodecError: the path is a directory, its directory is missing, or stdout is a terminal.
    """
    if is_stdio(path):
        if _stdout_is_terminal():
            raise DicodecError("refusing to write binary data to a terminal; redirect stdout or pass -o FILE")
        return
    p = Path(path)
    if p.is_dir():
        raise DicodecError(f"{p}: is a directory")
    if not p.parent.is_dir():
        raise DicodecError(f"{p}: directory {p.parent} does not exist")
    if not force and (p.exists() or p.is_symlink()):
        raise OutputExistsError(f"{p} already exists; pass --force to overwrite it")


def atomic_write(path: str | os.PathLike[str], data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` completely or not at all.

    Args:
        path: output file name, or ``-`` for stdout (written in one call, then flushed).
        data: the complete file contents.
        force: replace an existing file; without it an existing file is never touched.

    Raises:
        OutputExistsError: the file exists and ``force`` is false.
        DicodecError: the file cannot be written (permissions, disk full, missing directory);
            the message names the file and the reason.
    """
    if is_stdio(path):
        write_stdout(data)
        return
    check_output(path, force)
    p = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise DicodecError(f"cannot write {p}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give the result the permissions a plain open() would.
        os.chmod(tmp, _target_mode(p))
        if force:
            os.replace(tmp, p)
        else:
            _rename_no_clobber(tmp, p)
    except OutputExistsError:
        raise
    except OSError as exc:
        raise DicodecError(f"cannot write {p}: {exc.strerror or exc}") from exc
    finally:
        # BaseException included: Ctrl-C mid-write must not leave the temporary file behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], force: bool = False, folder: bool = False) -> Iterator[Path]:
    """A temporary name for an output written piece by piece (a clip, a folder of frames).

    Yields a path next to ``path`` (same filesystem) that does not exist yet; when the block ends
    without an exception it takes ``path``'s name as :func:`atomic_write` does (a folder: renamed, an
    existing empty folder or, with ``force``, any existing one replaced); otherwise it is removed and
    ``path`` is left as it was. ``-`` (stdout): the file's bytes go to stdout at the end.
    """
    target = Path(path)
    parent = Path(tempfile.gettempdir()) if is_stdio(path) else target.parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise DicodecError(f"cannot write {target}: {exc.strerror or exc}") from exc
    inner = tmp / ("frames" if folder else "out")
    try:
        yield inner
        if is_stdio(path):
            write_stdout(inner.read_bytes())
        elif folder:
            if target.exists():
                if any(target.iterdir()) and not force:
                    raise OutputExistsError(f"{target} already exists; pass --force to replace it")
                shutil.rmtree(target)
            os.rename(inner, target)
        else:
            os.chmod(inner, _target_mode(target))
            if force:
                os.replace(inner, target)
            else:
                _rename_no_clobber(inner, target)
    except OSError as exc:
        raise DicodecError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_stdout(data: bytes) -> None:
    """Write binary ``data`` to stdout in one piece and flush it."""
    if _stdout_is_terminal():
        raise DicodecError("refusing to write binary data to a terminal; redirect stdout or pass -o FILE")
    stream = sys.stdout.buffer
    stream.write(data)
    stream.flush()


def _rename_no_clobber(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` unless ``target`` exists, without a check-then-act race."""
    try:
        os.link(tmp, target)  # atomic and fails with EEXIST; the caller then unlinks tmp
    except FileExistsError:
        raise OutputExistsError(f"{target} already exists; pass --force to overwrite it") from None
    except OSError:
        # Filesystems without hard links (FAT, some network mounts): fall back to check + rename.
        if target.exists() or target.is_symlink():
            raise OutputExistsError(f"{target} already exists; pass --force to overwrite it") from None
        os.replace(tmp, target)


def _target_mode(target: Path) -> int:
    """Permissions for the output: those of the file being replaced, else 0666 minus the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(umask)
    return 0o666 & ~umask


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
