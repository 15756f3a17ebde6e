"""Reading and writing the image files the CLI works with (Pillow), with clear refusals.

Reading goes through dicodec's one image reader, :mod:`dicodec.images` (its module docstring has the
rules: RGB conversion, EXIF orientation, alpha and 16-bit policies, size limits), so ``dicodec eval``
and training read the same pixels that ``dicodec encode`` codes; this module adds stdin and the CLI's
file names. Writing is here: format from the name or ``--format``, atomic output.

Every failure is an :class:`~dicodec.errors.ImageError` whose message names the file and fits on one
line, so the CLI can print it as is.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, features

from dicodec.errors import DicodecError, ImageError
from dicodec.images import MAX_PIXELS, MAX_SIDE, AlphaPolicy, BitDepthPolicy, decode_image_file

from .atomic import atomic_write

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE",
    "READ_EXTENSIONS",
    "display_name",
    "encode_image",
    "format_for",
    "read_bytes",
    "read_image",
]

STDIO = "-"
STDIN_NAME = "<stdin>"
STDOUT_NAME = "<stdout>"

# Output formats: name -> (Pillow format, save options, canonical extension).
# JPEG at 95 with 4:4:4 chroma so that writing a decoded image adds as little loss as JPEG allows;
# WebP lossless so that a WebP output is the decoded pixels exactly.
WRITE_FORMATS: dict[str, tuple[str, dict[str, object], str]] = {
    "png": ("PNG", {"compress_level": 6}, ".png"),
    "jpeg": ("JPEG", {"quality": 95, "subsampling": "4:4:4"}, ".jpg"),
    "webp": ("WEBP", {"lossless": True}, ".webp"),
    "tiff": ("TIFF", {}, ".tif"),
    "ppm": ("PPM", {}, ".ppm"),
}
EXTENSIONS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".ppm": "ppm",
    ".pnm": "ppm",
}
# What a folder given to ``dicodec encode`` is searched for (a file named on the command line is
# tried whatever its name): the formats dicodec writes, and PGM/PBM, which it reads only.
READ_EXTENSIONS = frozenset({*EXTENSIONS, ".pgm", ".pbm"})


def display_name(path: str | os.PathLike[str], *, output: bool = False) -> str:
    """The name to show for ``path`` in messages: ``<stdin>`` / ``<stdout>`` for ``-``."""
    if os.fspath(path) == STDIO:
        return STDOUT_NAME if output else STDIN_NAME
    return os.fspath(path)


def read_bytes(path: str | os.PathLike[str], error: type[DicodecError] = DicodecError) -> bytes:
    """Read a whole file (or all of stdin for ``-``), turning OS errors into one-line ``error``.

    Args:
        path: file name, or ``-`` for stdin.
        error: the DicodecError subclass to raise (``ImageError`` for images).
    """
    name = display_name(path)
    if os.fspath(path) == STDIO:
        stdin = sys.stdin
        if _is_terminal(stdin):
            raise error(f"{name}: no input: stdin is a terminal; pipe a file in or give a file name")
        return stdin.buffer.read()
    p = Path(path)
    if p.is_dir():
        raise error(f"{name}: is a directory")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from None


def read_image(
    path: str | os.PathLike[str],
    *,
    alpha: AlphaPolicy = "error",
    bit_depth: BitDepthPolicy = "error",
) -> np.ndarray:
    """Read an image file, or stdin for ``-``, as the ``uint8`` HxWx3 RGB array the codec takes, with
    dicodec's one image reader (:func:`dicodec.images.decode_image_file`, whose rules and policies
    ``alpha`` and ``bit_depth`` are this module's).

    Raises:
        ImageError: the file cannot be read, or as :func:`dicodec.images.decode_image_file`.
    """
    data = read_bytes(path, ImageError)
    return decode_image_file(data, display_name(path), alpha=alpha, bit_depth=bit_depth)


def format_for(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The output format name for ``path``: ``fmt`` if given, else from the extension.

    ``-`` (stdout) and names without an extension get PNG. An extension that is not an image format
    dicodec writes is an error rather than a PNG under a misleading name.

    Raises:
        ImageError: unknown ``fmt`` or unknown extension.
    """
    if fmt is not None:
        key = fmt.lower()
        if key == "jpg":
            key = "jpeg"
        if key not in WRITE_FORMATS:
            raise ImageError(f"unknown image format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
        return key
    if os.fspath(path) == STDIO:
        return "png"
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "png"
    if suffix not in EXTENSIONS:
        raise ImageError(
            f"{os.fspath(path)}: cannot tell the image format from {suffix!r}; "
            f"pass --format ({', '.join(WRITE_FORMATS)})"
        )
    return EXTENSIONS[suffix]


def extension_for(fmt: str) -> str:
    """The canonical file extension of an output format name (``"jpeg"`` -> ``".jpg"``)."""
    return WRITE_FORMATS[format_for("", fmt)][2]


def encode_image(image: np.ndarray, fmt: str = "png") -> bytes:
    """Encode a uint8 HxWx3 (or HxW) array as image file bytes, ready for :func:`atomic_write`.

    Args:
        image: the pixels, as :func:`dicodec.decode` returns them.
        fmt: one of ``png``, ``jpeg`` (quality 95, 4:4:4), ``webp`` (lossless), ``tiff`` (deflate
            when Pillow has libtiff), ``ppm``.
    """
    key = format_for("", fmt)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ImageError(f"cannot write a {arr.dtype} array of shape {arr.shape}; want uint8 HxWx3")
    pil_format, options, _ = WRITE_FORMATS[key]
    options = dict(options)
    if key == "tiff" and features.check("libtiff"):
        options["compression"] = "tiff_deflate"
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format=pil_format, **options)
    return buf.getvalue()


def write_image(
    image: np.ndarray, path: str | os.PathLike[str], fmt: str | None = None, *, force: bool = False
) -> None:
    """Write ``image`` to ``path`` (``-`` for stdout) atomically, format from ``fmt`` or the name."""
    atomic_write(path, encode_image(image, format_for(path, fmt)), force=force)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
