"""``dicodec data``: build training data. Commands only parse options and call the library.

Registered lazily in :mod:`dicodec.cli.main`, so ``dicodec --help`` never imports this module.
"""

from __future__ import annotations

from pathlib import Path

import click

from .mix_pack import write_mix_pack
from .pack import PACK_BUDGET_BYTES, PACK_LONG_SIDE, PACK_QUALITY
from .packages import ARCHIVED_PHOTO_PACKAGES, EXTRA_PHOTO_PACKAGES, PACKAGES
from .prepare import prepare
from .selection_set import LONG_SIDE, TEXTURES, write_selection_set


@click.group(
    name="data",
    help="""Build training data from packaged images (docs/data.md).

\b
Examples:
  dicodec data prepare --out data
  dicodec data mix-pack --pack data/pack --manifest data/manifest.json --out .carry/pack
  dicodec data selection-set --data data --out .carry/select
""",
)
def data_group() -> None:
    """The ``dicodec data`` group (help text above)."""


@data_group.command(
    "prepare",
    help="""Download wallpaper packages and build the training pack and held-out eval sets.

Writes OUT/pack (training JPEGs), OUT/eval and OUT/eval_hr (held-out PNGs), OUT/manifest.json (one
record per image: source, license, kind, split) and contact sheets. Downloads (.deb files, the
scikit-learn wheel) and extractions stay under OUT and are reused. The run is deterministic: the same
packages give byte-identical outputs.

\b
Examples:
  dicodec data prepare --out data                         # the documented default pack
  dicodec data prepare --out data --skip-download         # reuse data/debs and data/wheels
  dicodec data prepare --out data/more --extra-packages photos,archived-photos --budget-mb 400
""",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Output folder: debs/ raw/ wheels/ pack/ eval/ eval_hr/ manifest.json.",
)
@click.option(
    "--packages",
    multiple=True,
    default=PACKAGES,
    show_default=True,
    help="Debian packages to take wallpapers from (repeat the option, or separate with commas).",
)
@click.option(
    "--extra-packages",
    multiple=True,
    default=(),
    help="More packages to take photos from (not graphics), train split only; 'photos' names the "
    "checked set (" + ", ".join(EXTRA_PHOTO_PACKAGES) + "), 'archived-photos' the photos kept inside "
    "application archives (" + ", ".join(ARCHIVED_PHOTO_PACKAGES) + "). Default: none (the documented pack).",
)
@click.option(
    "--long-side",
    type=int,
    default=PACK_LONG_SIDE,
    show_default=True,
    help="Max long side of pack JPEGs (never upscaled); lowered automatically over the budget.",
)
@click.option(
    "--quality", type=int, default=PACK_QUALITY, show_default=True, help="Pack JPEG quality (4:4:4)."
)
@click.option(
    "--budget-mb",
    type=float,
    default=PACK_BUDGET_BYTES / 1e6,
    show_default=True,
    help="Max total pack size in MB (10^6 bytes).",
)
@click.option("--skip-download", is_flag=True, help="Use only .deb files and wheels already under --out.")
@click.option(
    "--manifest-copy",
    default="",
    metavar="FILE",
    help="Also write the manifest to FILE (the repository keeps docs/data_manifest.json); '' for none.",
)
def prepare_command(
    out: Path,
    packages: tuple[str, ...],
    extra_packages: tuple[str, ...],
    long_side: int,
    quality: int,
    budget_mb: float,
    skip_download: bool,
    manifest_copy: str,
) -> None:
    prepare(
        out,
        packages,
        extra_packages,
        long_side=long_side,
        quality=quality,
        budget_bytes=int(budget_mb * 1e6),
        skip_download=skip_download,
        manifest_copy=Path(manifest_copy) if manifest_copy else None,
    )


@data_group.command(
    "mix-pack",
    help="""Split the training pack into photo/ and graphics/ subfolders for a weighted data mix.

Takes every training photo, and every second graphic (by file name) while the graphics stay under
--graphics-mb; 'dicodec train --mix photo=0.75,graphics=0.25' then samples the two with those weights.
--shard-mb cuts the folder into OUT/part-1, OUT/part-2 ... for packs larger than one device call
carries (scripts/gpu_long_run.sh stage merges them again).

\b
Examples:
  dicodec data mix-pack --pack data/pack --manifest docs/data_manifest.json --out .carry3/pack
  dicodec data mix-pack --pack data/more/pack --manifest data/more/manifest.json --out .carry/pack \\
      --graphics-mb 4 --shard-mb 28
""",
)
@click.option(
    "--pack",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("data/pack"),
    show_default=True,
    help="The pack/ folder of 'dicodec data prepare'.",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("docs/data_manifest.json"),
    show_default=True,
    help="The manifest of that pack.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to create."
)
@click.option("--graphics-mb", type=float, default=9.5, show_default=True, help="Budget for graphics.")
@click.option(
    "--shard-mb", type=float, default=0.0, help="Cut into OUT/part-N of at most this many MB (0: one folder)."
)
def mix_pack_command(pack: Path, manifest: Path, out: Path, graphics_mb: float, shard_mb: float) -> None:
    write_mix_pack(pack, manifest, out, graphics_mb * 1e6, shard_mb * 1e6)


@data_group.command(
    "selection-set",
    help="""Build the checkpoint-selection set: held-out images that are neither trained on nor reported.

The four eval_hr photos at a 1024 px long side as JPEG q95, plus the scikit-image textures
"""
    + ", ".join(TEXTURES)
    + """. 'dicodec train --val-data OUT' keeps the checkpoint that scores best on it.

\b
Example:
  dicodec data selection-set --data data --out .carry/select
""",
)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Output folder of 'dicodec data prepare'.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to create."
)
@click.option(
    "--long-side", type=int, default=LONG_SIDE, show_default=True, help="Long side of the photos in px."
)
def selection_set_command(data: Path, out: Path, long_side: int) -> None:
    photos, mb = write_selection_set(data, out, long_side)
    click.echo(f"{photos} photos + {len(TEXTURES)} textures in {out}, {mb:.1f} MB")
