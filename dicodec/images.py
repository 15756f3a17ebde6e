"""Reading image files as the 8-bit RGB the codec codes: one reader for every part of dicodec.

``dicodec encode`` (through :mod:`dicodec.cli.imagefiles`), ``dicodec eval``
(:mod:`dicodec.eval.runner`) and training (:mod:`dicodec.codec.training.data`) all read images here,
so evaluation scores, and training learns from, exactly the image that encoding codes (before this
reader, only the CLI applied the EXIF orientation). The codec codes 8-bit RGB and nothing else;
everything a real image file can be beyond that (gray, palette, CMYK, 16 bits per channel, an alpha
channel, an EXIF rotation) is settled here, at the edge, so that :func:`dicodec.encode` always receives
a plain ``uint8`` HxWx3 array. The rules:

* Gray (``1``, ``L``, 16-bit ``I;16``), palette and CMYK images are converted to RGB; nothing is lost
  that RGB can hold. Colour profiles (ICC) are not applied: pixel values are coded as stored.
* An EXIF orientation tag is applied (``ImageOps.exif_transpose``), so the coded image is the one a
  viewer shows; the decoded file has no orientation tag and needs none.
* An alpha channel that makes any pixel transparent is an error unless ``alpha="drop"``, because
  dropping it changes what the image looks like. A fully opaque alpha channel (common in
  screenshots) carries no information and is dropped silently.
* 16 bits per channel is an error unless ``bit_depth="reduce"``: a silent reduction would surprise
  someone measuring quality against the 16-bit original.
* The format's hard limits (each side <= 65535, at most 2**28 pixels) are checked from the header,
  before any pixel is decoded, which is also the decompression-bomb defence.

Every failure is an :class:`~dicodec.errors.ImageError` whose message names the file and fits on one
line, so the CLI can print it as is.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dicodec.errors import ImageError

AlphaPolicy = Literal["error", "drop"]
BitDepthPolicy = Literal["error", "reduce"]

# Hard limits of the bitstream format: 16-bit width and height fields, 2**28 pixels in all.
MAX_SIDE = 65535
MAX_PIXELS = 2**28

READ_FORMATS_TEXT = "PNG, JPEG, WebP, TIFF or PPM/PGM"

# Pillow decoding failures come as many types; all mean "this file cannot be read as an image".
_PIL_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)
_PIXEL_LIMIT_LOCK = threading.Lock()  # see _pixel_limit


def read_image(
    path: str | os.PathLike[str],
    *,
    alpha: AlphaPolicy = "error",
    bit_depth: BitDepthPolicy = "error",
) -> np.ndarray:
    """Read an image file as the ``uint8`` HxWx3 RGB array the codec takes (see the module's rules).

    Args:
        path: PNG, JPEG, WebP, TIFF or PPM/PGM file (anything Pillow reads is tried).
        alpha: ``"error"`` or ``"drop"`` (see :func:`decode_image_file`).
        bit_depth: ``"error"`` or ``"reduce"`` (see :func:`decode_image_file`).

    Raises:
        ImageError: missing, unreadable, empty or corrupt file, or content the policies refuse.
    """
    name = os.fspath(path)
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"{name}: is a directory")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return decode_image_file(data, name, alpha=alpha, bit_depth=bit_depth)


def decode_image_file(
    data: bytes,
    name: str,
    *,
    alpha: AlphaPolicy = "error",
    bit_depth: BitDepthPolicy = "error",
) -> np.ndarray:
    """Decode the bytes of an image file to the ``uint8`` HxWx3 RGB array the codec takes.

    Args:
        data: the file's bytes: PNG, JPEG, WebP, TIFF or PPM/PGM (anything Pillow reads is tried).
            Of a multi-frame file only the first frame is read.
        name: how messages name the file.
        alpha: ``"error"`` refuses an image with transparent pixels; ``"drop"`` discards the alpha
            channel (the colour channels are kept as stored, not composited onto a background).
        bit_depth: ``"error"`` refuses 16-bit images; ``"reduce"`` converts them to 8 bits
            (16-bit gray exactly, ``round(v / 257)``; 16-bit colour as Pillow decodes it, by the
            high byte, which is never more than one level from that).

    Returns:
        C-contiguous ``uint8`` array of shape (H, W, 3), EXIF orientation applied.

    Raises:
        ImageError: missing, empty, unreadable or corrupt file, image beyond the format's limits,
            or alpha / 16-bit content refused by the policies above.
    """
    if not data:
        raise ImageError(f"{name}: file is empty")
    with _pixel_limit():
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: {_limit_text()}") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not a readable image (expected {READ_FORMATS_TEXT})") from None
        except _PIL_READ_ERRORS as exc:
            raise ImageError(f"{name}: cannot read image: {_one_line(exc)}") from None
    _check_size(name, *im.size)
    sixteen = _is_16_bit(im)
    if sixteen and bit_depth != "reduce":
        raise ImageError(
            f"{name}: image has 16 bits per channel; dicodec codes 8-bit RGB; "
            "pass --bit-depth reduce to convert it"
        )
    try:
        im.load()
        im = ImageOps.exif_transpose(im) or im
        rgb = _to_rgb(name, im, alpha)
    except ImageError:
        raise
    except _PIL_READ_ERRORS as exc:
        raise ImageError(f"{name}: cannot read image: {_one_line(exc)}") from None
    out = np.ascontiguousarray(rgb, dtype=np.uint8)
    # Arrays viewing Pillow's buffer are read-only, which torch.from_numpy warns about downstream.
    return out if out.flags.writeable else out.copy()


def _to_rgb(name: str, im: Image.Image, alpha: AlphaPolicy) -> np.ndarray:
    """Convert a loaded Pillow image of any supported mode to a uint8 HxWx3 array."""
    mode = im.mode
    if mode in ("F",) or mode.startswith("I;32") or mode.startswith("BGR"):
        raise ImageError(f"{name}: unsupported pixel format {mode!r}; convert it to 8-bit RGB first")
    if mode == "I" or mode.startswith("I;16"):
        return _gray16_to_rgb8(name, im)
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        if alpha != "drop" and np.asarray(rgba.getchannel("A")).min() < 255:
            raise ImageError(
                f"{name}: image has an alpha channel; dicodec codes RGB only; pass --alpha drop to discard it"
            )
        return np.asarray(rgba)[..., :3]
    if mode != "RGB":
        try:
            im = im.convert("RGB")
        except ValueError:
            raise ImageError(f"{name}: cannot convert pixel format {mode!r} to RGB") from None
    return np.asarray(im)


def _gray16_to_rgb8(name: str, im: Image.Image) -> np.ndarray:
    """16-bit gray to 8-bit RGB by exact rounding: round(v * 255 / 65535) == round(v / 257)."""
    v = np.asarray(im).astype(np.int64)
    if v.size and (v.min() < 0 or v.max() > 65535):
        raise ImageError(f"{name}: pixel values outside the 16-bit range; convert it to 8-bit RGB first")
    # v*255 is never exactly halfway between multiples of 65535, so floor(x + 1/2) has no ties.
    g = ((v * 255 + 32767) // 65535).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def _has_alpha(im: Image.Image) -> bool:
    """Whether the image carries transparency: an alpha band or a tRNS/transparency key."""
    return "A" in im.getbands() or im.mode in ("La", "RGBa", "PA") or "transparency" in im.info


def _is_16_bit(im: Image.Image) -> bool:
    """Whether the file stores 16 bits per channel, judged from the header before decoding.

    Pillow opens 16-bit gray as ``I;16``/``I`` but silently narrows 16-bit colour to ``RGB``, so
    colour depth is read from the decoder's raw mode (``RGB;16B``) or the PPM maxval.
    """
    if im.mode.startswith("I;16") or im.mode == "I":
        return True
    for tile in getattr(im, "tile", None) or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
        # PPM/PGM: args are (rawmode, maxval); a maxval above 255 means two bytes per sample.
        if im.format == "PPM" and isinstance(args, tuple) and len(args) > 1:
            if isinstance(args[1], int) and args[1] > 255:
                return True
    return False


def _check_size(name: str, width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(f"{name}: image is {width}x{height} pixels; {_limit_text()}")
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image is {width}x{height} pixels; it has no pixels to code")


def _limit_text() -> str:
    return (
        f"too large: dicodec's format allows at most {MAX_SIDE} pixels per side "
        f"and {MAX_PIXELS} (2^28) pixels in all"
    )


@contextlib.contextmanager
def _pixel_limit() -> Iterator[None]:
    """Raise Pillow's decompression-bomb limit to the format's own, which we check ourselves.

    Pillow's default (about 89 Mpixel warning, 179 Mpixel error) would refuse images the format
    allows. With its limit at 2**28 Pillow still errors above 2**29 as a backstop, and its warning
    between 2**28 and 2**29 is silenced because :func:`_check_size` refuses those with a clearer
    message. Pillow's limit is a module global and a batch (``dicodec encode`` with several files,
    ``Codec.encode_many`` with ``load=read_image``) reads images in several threads, so the block holds
    a lock; it only covers ``Image.open``, which reads the header, never the pixels.
    """
    with _PIXEL_LIMIT_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
