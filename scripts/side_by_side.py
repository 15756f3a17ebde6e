"""Side-by-side crops of codecs at (nearly) the same bit rate, as a labelled PNG for docs/results.

Question: what do dicodec's decodes and the baselines look like at the same bit rate?
When: after a model or decoder changes, for the figures in docs/results cited by docs/history.md and the
README.
Output: one labelled PNG (``--out``).

For every image, each codec's quality parameter is searched (bisection; bpp grows with quality) for the
largest rate that stays at or under ``--bpp`` (the lowest quality when even that is over: the label says
the rate each tile really has); the same crop of the source and of every decode is put in
a row, with the codec, its setting, bpp and PSNR written above each tile. dicodec contributes one tile
per decode mode its default model ships (``fast`` and ``generative``)::

    python scripts/side_by_side.py data/eval/skimage_astronaut.png --bpp 0.1 --codecs dicodec,avif,jpeg \\
        --out docs/results/side_by_side_0.1bpp.png
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw

from dicodec.eval.image_codecs import CodecUnavailable, make_codec
from dicodec.eval.metrics import psnr_rgb

SEARCH_RANGES = {"dicodec": (0, 100), "avif": (0, 100), "jpeg": (1, 95), "webp": (0, 100), "hevc": (0, 51)}
DESCENDING = {"hevc": "QP"}  # codecs whose parameter lowers the rate as it grows, and its name
LABEL_HEIGHT = 14


def at_rate(encode, img: np.ndarray, target_bpp: float, lo: int, hi: int) -> tuple[int, bytes]:
    """Largest integer quality in [lo, hi] whose file is at most ``target_bpp``; else ``lo``."""
    pixels = img.shape[0] * img.shape[1]
    best = (lo, encode(img, lo))
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode(img, mid)
        if 8 * len(data) / pixels <= target_bpp:
            best, lo = (mid, data), mid + 1
        else:
            hi = mid - 1
    return best


def search(name: str, encode, img: np.ndarray, target_bpp: float) -> tuple[str, bytes]:
    """:func:`at_rate` over the codec's own parameter range; for a descending parameter (HEVC's QP)
    the search runs over its mirror image, so that the rate still grows with the searched number.
    Returns the label of the setting found ("q40", "QP47") and the file."""
    lo, hi = SEARCH_RANGES.get(name, (0, 100))
    if name not in DESCENDING:
        q, data = at_rate(encode, img, target_bpp, lo, hi)
        return f"q{q}", data
    k, data = at_rate(lambda im, k: encode(im, lo + hi - k), img, target_bpp, lo, hi)
    return f"{DESCENDING[name]}{lo + hi - k}", data


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def labelled(tile: np.ndarray, text: str) -> Image.Image:
    canvas = Image.new("RGB", (tile.shape[1], tile.shape[0] + LABEL_HEIGHT), "white")
    canvas.paste(Image.fromarray(tile), (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((2, 1), text, fill="black")
    return canvas


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--bpp", type=float, default=0.1, show_default=True, help="Rate each codec must stay under.")
@click.option("--codecs", default="dicodec,avif,jpeg", show_default=True, help="Comma-separated codecs.")
@click.option("--crop", type=int, default=256, show_default=True, help="Side of the centre crop shown.")
@click.option("--zoom", type=int, default=2, show_default=True, help="Nearest-neighbour magnification.")
@click.option("--device", default="cpu", show_default=True, help="Device for dicodec.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
def main(
    images: tuple[str, ...], bpp: float, codecs: str, crop: int, zoom: int, device: str, out: str
) -> None:
    rows = []
    for path in images:
        img = np.asarray(Image.open(path).convert("RGB"))
        tiles = [labelled(centre_crop(img, crop), f"{Path(path).stem} (source)")]
        for name in codecs.split(","):
            codec = make_codec(name, device=device)
            if codec.check():
                click.echo(f"{name}: skipped ({codec.check()})", err=True)
                continue
            setting, data = search(name, codec.encode, img, bpp)
            rate = 8 * len(data) / (img.shape[0] * img.shape[1])
            for curve in codec.curves:
                try:
                    decoded = codec.decode(data, curve)
                except CodecUnavailable as exc:
                    click.echo(f"{curve}: skipped ({exc})", err=True)
                    continue
                label = f"{curve} {setting} {rate:.3f} bpp {psnr_rgb(img, decoded):.1f} dB"
                tiles.append(labelled(centre_crop(decoded, crop), label))
                click.echo(f"{Path(path).name}: {label}")
        row = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)), "white")
        x = 0
        for t in tiles:
            row.paste(t, (x, 0))
            x += t.width
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    if zoom > 1:
        sheet = sheet.resize((sheet.width * zoom, sheet.height * zoom), Image.NEAREST)
    sheet.save(out)
    click.echo(f"wrote {out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
