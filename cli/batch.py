"""Many files per ``dicodec encode`` / ``dicodec decode`` call.

Start-up (Python, torch, weights) costs about 2 s a call on 2 CPU cores, half the coding time of a
1080p image there and many times it on a GPU (docs/models.md, *End to end*), so a folder of photos
coded one call per file spends much of its time starting. Here the model loads once
(:class:`dicodec.Codec`), input files are read and decoded in threads ahead of the codec
(``Codec.encode_many``), and outputs are encoded (PNG, ...) and written in threads behind it, so
file work overlaps coding.

The rules, also in ``docs/cli.md``:

* Batch mode is several inputs, or a folder among them. A folder contributes the files directly in
  it that have an image suffix (``encode``) or ``.dic`` (``decode``); with ``--recursive`` those of
  its subfolders too. Hidden files and folders are ignored; a file named on the command line is
  always tried.
* ``-o`` names the output folder (created if missing); outputs keep the input's name with the new
  suffix, and the path below a folder input. Without ``-o`` each output goes next to its input.
* An existing output is skipped, not overwritten, unless ``--force``. Two inputs that would write
  the same output: the later one fails.
* A failure is one ``error: FILE: reason`` line and the batch goes on; the exit status is 1 if any
  input failed. Outputs are written atomically (:mod:`dicodec.cli.atomic`), as in single-file mode.
* One progress bar (images/s) when stderr is a terminal, and one summary line at the end.
* The model-zoo options work as with one file: ``--offline`` for every model the batch loads, and
  ``decode --decoder`` for every file (a file whose model has no such decoder fails on its own line).
  ``encode`` installs and loads its one model before the first file, so a model that cannot be had
  is one error, not one per file.

Images are read by dicodec's one reader, :func:`dicodec.read_image`, as in single-file mode.

One input file with ``-o`` naming a folder (an existing one, or a name ending in ``/``) is the
single-file command writing inside that folder (:func:`into_folder`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

import dicodec
from dicodec.errors import DicodecError

from .atomic import OutputExistsError, atomic_write, is_stdio
from .imagefiles import READ_EXTENSIONS, encode_image, read_bytes

BITSTREAM_SUFFIX = ".dic"
EXIT_FAILED = 1  # as the CLI's EXIT_ERROR: some input failed, each said why on its own line


def default_jobs() -> int:
    """Threads for file work: half the CPU cores, 2 to 8 (the codec keeps the rest busy)."""
    return min(8, max(2, (os.cpu_count() or 2) // 2))


def options(command: Any) -> Any:
    """The options of batch mode (several inputs or a folder), shared by encode and decode."""
    command = click.option(
        "-j",
        "--jobs",
        type=click.IntRange(0, 64),
        default=None,
        metavar="N",
        help="Batch mode: threads that read and write files while the codec runs (0: all in one "
        "thread). Default: half the CPU cores, 2 to 8.",
    )(command)
    return click.option(
        "-r", "--recursive", is_flag=True, help="Batch mode: also take the files in subfolders of folder INs."
    )(command)


# ----------------------------------------------------------------------------------------------
# Which mode, and where outputs go
# ----------------------------------------------------------------------------------------------


def _names_folder(output: str | None) -> bool:
    if output is None or is_stdio(output):
        return False
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def is_batch(inputs: Sequence[str], output: str | None) -> bool:
    """Whether a command line asks for batch mode (several inputs, or a folder); checks its usage.

    Raises:
        click.UsageError: ``-`` (stdin or stdout) with several inputs, or ``-o`` naming a file.
    """
    several = len(inputs) > 1 or any(not is_stdio(p) and Path(p).is_dir() for p in inputs)
    if not several:
        return False
    if any(is_stdio(p) for p in inputs):
        raise click.UsageError("- (stdin) works with one input only")
    if output is not None and is_stdio(output):
        raise click.UsageError("-o - (stdout) works with one input only")
    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise click.UsageError(f"-o {output}: with several inputs or a folder, -o names a folder, not a file")
    return True


def into_folder(input_path: str, output: str | None, suffix: str) -> str | None:
    """``output`` for one input: inside it when it names a folder (existing, or ending in ``/``,
    then created), else unchanged.

    Raises:
        click.UsageError: the input is stdin, which has no name to keep.
    """
    if not _names_folder(output):
        return output
    assert output is not None
    if is_stdio(input_path):
        raise click.UsageError(f"-o {output} is a folder; with - (stdin) as input, -o names a file or -")
    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicodecError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    return os.fspath(folder / Path(input_path).with_suffix(suffix).name)


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes."""

    source: Path
    target: Path

    @property
    def name(self) -> str:
        return os.fspath(self.source)


@dataclass
class Plan:
    """What a batch will do: jobs to run, outputs that exist already, inputs refused up front."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (input name, reason)


def _folder_files(folder: Path, recursive: bool, suffixes: frozenset[str]) -> Iterator[Path]:
    """Files with one of ``suffixes`` in ``folder`` (and below), sorted, hidden entries skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield Path(root) / name


def plan(
    inputs: Sequence[str],
    output: str | None,
    suffix: str,
    input_suffixes: frozenset[str],
    *,
    recursive: bool,
    force: bool,
) -> Plan:
    """Expand folders, name every output and sort inputs into run / skip / refuse.

    Raises:
        DicodecError: no input file at all (e.g. an empty folder), before anything is loaded.
    """
    out_dir = Path(output) if output is not None else None
    result = Plan()
    seen_sources: set[str] = set()
    owners: dict[str, Job] = {}
    empty: list[str] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            pairs = [(f, f.relative_to(path)) for f in _folder_files(path, recursive, input_suffixes)]
            if not pairs:
                empty.append(raw)
        else:
            pairs = [(path, Path(path.name))]
        for source, relative in pairs:
            key = os.path.realpath(source)
            if key in seen_sources:  # the same file twice (named and inside a folder): once
                continue
            seen_sources.add(key)
            target = (out_dir / relative if out_dir is not None else source).with_suffix(suffix)
            job = Job(source, target)
            owner = owners.setdefault(os.path.abspath(target), job)
            if owner is not job:
                result.refused.append((job.name, f"its output {target} is also the output of {owner.name}"))
            elif not force and (target.exists() or target.is_symlink()):
                result.skipped.append(job)
            else:
                result.jobs.append(job)
    if not (result.jobs or result.skipped or result.refused):
        kinds = "image" if suffix == BITSTREAM_SUFFIX else BITSTREAM_SUFFIX
        hint = "" if recursive else " (pass -r to search subfolders)"
        raise DicodecError(f"{', '.join(empty)}: no {kinds} files to code{hint}")
    return result


# ----------------------------------------------------------------------------------------------
# Running a batch
# ----------------------------------------------------------------------------------------------


def _message(name: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        text = "no such file"
    return text if text.startswith(name) else f"{name}: {text}"


class Reporter:
    """Error lines, the progress bar (a terminal only) and the counts of the summary line."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.ok = self.skipped = self.failed = 0
        self.quiet = quiet
        self.start = time.perf_counter()
        self.bar = None
        if not quiet and total and _stderr_is_terminal():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)

    def done(self, n: int = 1) -> None:
        self.ok += n
        self._advance(n)

    def skip(self, n: int = 1) -> None:
        self.skipped += n
        self._advance(n)

    def fail(self, name: str, exc: BaseException | str) -> None:
        self.failed += 1
        line = f"error: {_message(name, exc) if isinstance(exc, BaseException) else f'{name}: {exc}'}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            click.echo(line, err=True)
        self._advance(1)

    def _advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.start
        note = " (outputs exist; --force overwrites)" if self.skipped else ""
        click.echo(
            f"{self.ok} ok, {self.skipped} skipped{note}, {self.failed} failed; "
            f"{elapsed:.1f} s, {self.ok / max(elapsed, 1e-9):.2f} images/s",
            err=True,
        )


def run(
    the_plan: Plan,
    results: Callable[[list[Job]], Iterator[Any]],
    write: Callable[[Job, Any], None],
    *,
    jobs: int,
    quiet: bool,
) -> None:
    """Code ``the_plan``'s jobs, write each output, report; exit 1 if any input failed.

    Args:
        results: ``jobs -> iterator of dicodec.Result`` (``Codec.encode_many`` / ``decode_many``).
        write: writes one output; runs in ``jobs`` threads (inline for 0), at most ``2 * jobs``
            outputs waiting, which bounds the decoded images held in memory.
    """
    stream = results(the_plan.jobs)  # options are checked here: a bad one is one error, before any report
    report = Reporter(len(the_plan.jobs) + len(the_plan.skipped) + len(the_plan.refused), quiet)
    report.skip(len(the_plan.skipped))
    for name, reason in the_plan.refused:
        report.fail(name, reason)
    pending: deque[tuple[Job, Future]] = deque()

    def settle(job: Job, future: Future) -> None:
        try:
            future.result()
        except OutputExistsError:  # created meanwhile by someone else: not ours to overwrite
            report.skip()
        except DicodecError as exc:
            report.fail(job.name, exc)
        else:
            report.done()

    try:
        with ThreadPoolExecutor(max_workers=max(jobs, 1), thread_name_prefix="dicodec-write") as pool:
            with contextlib.closing(stream):
                for result in stream:
                    if not result.ok:
                        report.fail(result.item.name, result.error)
                        continue
                    if jobs <= 0:
                        settle(result.item, _done(write, result.item, result.value))
                        continue
                    pending.append((result.item, pool.submit(write, result.item, result.value)))
                    while pending and (pending[0][1].done() or len(pending) > 2 * jobs):
                        settle(*pending.popleft())
            while pending:
                settle(*pending.popleft())
    finally:
        report.close()
    if report.failed:
        click.get_current_context().exit(EXIT_FAILED)


def _done(write: Callable[[Job, Any], None], job: Job, value: Any) -> Future:
    """Run ``write`` now and wrap its outcome as a finished future (the ``--jobs 0`` path)."""
    future: Future = Future()
    try:
        write(job, value)
    except DicodecError as exc:
        future.set_exception(exc)
    else:
        future.set_result(None)
    return future


def _write_file(job: Job, data: bytes, force: bool) -> None:
    try:
        job.target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicodecError(f"cannot create {job.target.parent}: {exc.strerror or exc}") from None
    atomic_write(job.target, data, force=force)


# ----------------------------------------------------------------------------------------------
# The two commands' batch modes
# ----------------------------------------------------------------------------------------------


def encode_files(
    inputs: Iterable[str],
    output: str | None,
    *,
    recursive: bool,
    jobs: int | None,
    quality: int,
    tile_size: int | None,
    model: str | None,
    device: str,
    alpha: str,
    refine_steps: int = 0,
    precision: str = "float32",
    bit_depth: str,
    offline: bool | None,
    force: bool,
    quiet: bool,
) -> None:
    """``dicodec encode`` with several inputs or a folder (module docstring)."""
    jobs = default_jobs() if jobs is None else jobs
    images = READ_EXTENSIONS
    the_plan = plan(list(inputs), output, BITSTREAM_SUFFIX, images, recursive=recursive, force=force)
    codec = dicodec.Codec(model, device=device, offline=offline)
    if the_plan.jobs:
        codec.load(generative=False)  # installed (or refused) once, before the progress bar

    def results(todo: list[Job]) -> Iterator[Any]:
        def load(job: Job) -> Any:
            return dicodec.read_image(job.source, alpha=alpha, bit_depth=bit_depth)  # type: ignore[arg-type]

        return codec.encode_many(
            todo,
            quality,
            tile_size=tile_size,
            refine_steps=refine_steps,
            precision=precision,  # type: ignore[arg-type]
            load=load,
            workers=jobs,
        )

    run(the_plan, results, lambda job, data: _write_file(job, data, force), jobs=jobs, quiet=quiet)


def decode_files(
    inputs: Iterable[str],
    output: str | None,
    *,
    recursive: bool,
    jobs: int | None,
    fmt: str,
    suffix: str,
    mode: str,
    device: str,
    realism: float,
    max_pixels: int | None,
    decoder: str | None,
    precision: str,
    offline: bool | None,
    force: bool,
    quiet: bool,
) -> None:
    """``dicodec decode`` with several inputs or a folder (module docstring)."""
    jobs = default_jobs() if jobs is None else jobs
    dics = frozenset({BITSTREAM_SUFFIX})
    the_plan = plan(list(inputs), output, suffix, dics, recursive=recursive, force=force)
    codec = dicodec.Codec(device=device, offline=offline)

    def results(todo: list[Job]) -> Iterator[Any]:
        return codec.decode_many(
            todo,
            mode=mode,  # type: ignore[arg-type]
            realism=realism,
            max_pixels=max_pixels,
            decoder=decoder,
            precision=precision,  # type: ignore[arg-type]
            load=lambda job: read_bytes(job.source),
            workers=jobs,
        )

    def write(job: Job, image: Any) -> None:
        _write_file(job, encode_image(image, fmt), force)

    run(the_plan, results, write, jobs=jobs, quiet=quiet)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "is_batch",
    "into_folder",
    "plan",
    "run",
    "encode_files",
    "decode_files",
    "default_jobs",
    "options",
]
