"""Decoding, resizing and encoding pixels the same way everywhere (the pack, the eval sets, analysis).

The encoder settings (other than JPEG quality) are fixed here, so the same inputs give the same bytes on
every run: the manifest's hashes are reproducible.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB; transparent overlays (mate's abstract PNGs) are flattened over mid-gray.

    They are drawn to sit on a desktop color; over black several of them would vanish.
    """
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (128, 128, 128, 255)), im).convert("RGB")
    return im.convert("RGB")


def load_rgb(path: Path, draft_long_side: int | None = None) -> Image.Image:
    """Decode to RGB; ``draft_long_side`` lets the JPEG decoder skip resolution it would throw away."""
    with Image.open(path) as im:
        if draft_long_side and im.format == "JPEG":
            scale = draft_long_side / max(im.size)
            im.draft(im.mode, (math.ceil(im.width * scale), math.ceil(im.height * scale)))
        return to_rgb(im)


def resize_long_side(im: Image.Image, long_side: int) -> Image.Image:
    """Lanczos downscale so that max(w, h) <= long_side; never upscales."""
    if max(im.size) <= long_side:
        return im
    s = long_side / max(im.size)
    size = (max(1, round(im.width * s)), max(1, round(im.height * s)))
    return im.resize(size, Image.Resampling.LANCZOS)


def encode_jpeg(im: Image.Image, quality: int) -> bytes:
    """Baseline JPEG, 4:4:4 (chroma detail matters for a codec's training data), optimized Huffman."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def encode_png(im: Image.Image) -> bytes:
    """PNG at zlib level 9 without Pillow's optimizer pass (same bytes, much faster)."""
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=9)
    return buf.getvalue()
