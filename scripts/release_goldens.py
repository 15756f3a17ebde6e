"""Golden files of retired models, written and decoded by the release that shipped the model.

Job: make and check the golden files that keep retired models decodable to their release's pixels.
When: when a release changes the default model, so the previous one is retired (docs/models.md, "The
model zoo").
Output: ``pkg`` an importable copy of a release's sources, ``encode`` a ``.dic`` file, ``digest`` one
JSON line per file on stdout.

A file must decode forever to the pixels the release that wrote it produced. This script runs with
*whatever* ``dicodec`` it imports, so it is run once with an old release's code on ``PYTHONPATH`` (to
write a golden and record its pixels) and once with the current code (to check them):

    git archive 9f0fa02 | tar -x -C /tmp/rel/src          # dicodec 0.6.0, which shipped hp32-v5
    python scripts/release_goldens.py pkg /tmp/rel/src /tmp/rel/pkg
    PYTHONPATH=/tmp/rel/pkg python scripts/release_goldens.py encode out.dic --crop 120,200,128,192
    PYTHONPATH=/tmp/rel/pkg python scripts/release_goldens.py digest tests/golden/retired_*.dic

It uses only the API every release has had (``encode(image, quality, tile_size=, device=)``,
``decode(data, mode=, device=)`` returning uint8 pixels), so it runs unchanged on dicodec 0.1 to now.
``digest`` prints one JSON object per file: the release, the model, and the SHA-256 of the decoded
uint8 HxWx3 pixels per decode mode (``generative`` only where the release had it for that model).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import click
import numpy as np
from PIL import Image

SUBPACKAGES = ("codec", "cli", "bitstream", "eval")  # pyproject's package-dir mapping, as folders


@click.group()
def main() -> None:
    """Write and digest golden files with the dicodec found on the import path."""


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("dest", type=click.Path())
def pkg(src: str, dest: str) -> None:
    """Lay out an unpacked source tree SRC as an importable ``dicodec`` package under DEST.

    The repository maps ``dicodec.codec`` to ``codec/`` and so on (pyproject's package-dir), so a
    checkout is not importable as it is; links give the same layout without installing it.
    """
    root = Path(dest) / "dicodec"
    root.mkdir(parents=True, exist_ok=False)
    for item in (Path(src) / "dicodec").iterdir():
        os.symlink(item.resolve(), root / item.name)
    for sub in SUBPACKAGES:
        os.symlink((Path(src) / sub).resolve(), root / sub)
    click.echo(f"PYTHONPATH={Path(dest).resolve()}")


@main.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--quality", type=int, default=50, show_default=True, help="0..100.")
@click.option("--tile-size", type=int, default=128, show_default=True, help="Tile side (multiple of 128).")
@click.option(
    "--crop",
    default="120,200,128,192",
    show_default=True,
    help="top,left,height,width of the bundled sample to code.",
)
def encode(output: str, quality: int, tile_size: int, crop: str) -> None:
    """Encode a crop of the bundled sample with the imported release's default model."""
    import dicodec

    top, left, h, w = (int(v) for v in crop.split(","))
    sample = Path(dicodec.__file__).with_name("samples") / "coffee.png"
    pixels = np.asarray(Image.open(sample).convert("RGB"))
    image = np.ascontiguousarray(pixels[top : top + h, left : left + w])
    data = dicodec.encode(image, quality, tile_size=tile_size, device="cpu")
    Path(output).write_bytes(data)
    info = dicodec.inspect(data)
    by = f"dicodec {dicodec.__version__}"
    click.echo(f"{output}: {len(data)} bytes, {info['model']}, format {info['version']}, {by}")


def pixel_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of decoded uint8 HxWx3 pixels in C order (the bytes a PNG of them holds, unfiltered)."""
    array = np.ascontiguousarray(np.asarray(pixels))
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3, array.shape
    return hashlib.sha256(array.tobytes()).hexdigest()


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--modes", default="fast,generative", show_default=True, help="Decode modes to try.")
@click.option("--decoder", default=None, help="Generative decoder (dicodec 0.7 and later only).")
def digest(files: tuple[str, ...], modes: str, decoder: str | None) -> None:
    """Decode FILES with the imported release and print the SHA-256 of their pixels per mode."""
    import dicodec

    extra = {"decoder": decoder} if decoder else {}  # older releases have no such argument
    for path in files:
        data = Path(path).read_bytes()
        row = {"file": Path(path).name, "dicodec": dicodec.__version__}
        row["model"] = dicodec.inspect(data)["model"]
        for mode in modes.split(","):
            try:
                args = extra if mode == "generative" else {}
                row[mode] = pixel_sha256(dicodec.decode(data, mode=mode, device="cpu", **args))
            except dicodec.DicodecError as exc:  # e.g. no generative decoder in that release
                row[mode] = f"error: {type(exc).__name__}: {exc}"
        click.echo(json.dumps(row))


if __name__ == "__main__":
    main()
