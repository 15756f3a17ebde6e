"""Finding the images of an extracted package: archives unpacked, raster files listed, the sizes of
one wallpaper grouped, ids assigned.

Walks are sorted and symlinks skipped (plasma aliases its sizes with them), so the same package always
gives the same candidates in the same order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from dicodec.codec.model_store import sha256_file
from dicodec.codec.training.archives import read_eet_jpeg_images, read_qt_rcc

from .files import write_if_changed
from .packages import PACKAGE_ALIASES

RASTER_EXTS = (".jpg", ".jpeg", ".png", ".webp")
MIN_PIXELS = 1_000_000  # below 1 MP a wallpaper gives too few distinct 256-px crops to be worth carrying
# GCompris' photos are 0.3-2 MP of lossy WebP (~0.6 bpp): kept from 0.3 MP, and packed downscaled
# (pack.PACKAGE_DOWNSCALE).
PACKAGE_MIN_PIXELS = {"gcompris-qt-data": 300_000}


def min_pixels(package: str) -> int:
    """Images of ``package`` with fewer pixels are dropped."""
    return PACKAGE_MIN_PIXELS.get(package, MIN_PIXELS)


@dataclass
class Candidate:
    """One image file of a package, filled in step by step: found (scan), named (:func:`assign_ids`),
    measured and classified (:func:`~.classify.analyse`)."""

    package: str
    path: str  # inside the package root, posix, e.g. "usr/share/backgrounds/x.jpg"
    file: Path
    width: int
    height: int
    sha256: str
    id: str = ""
    kind: str = ""
    features: dict = field(default_factory=dict)
    thumb: np.ndarray | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


def scan_package(
    root: Path, package: str, unreadable: list[Candidate] | None = None
) -> tuple[list[Candidate], int]:
    """All raster files under ``root`` in sorted order, and the number of symlinks skipped.

    A file Pillow cannot open (digikam-data ships a PNG with a broken text chunk) raises, unless
    ``unreadable`` is given: then it is appended there with size 0x0.
    """
    found, links = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.lower().endswith(RASTER_EXTS):
                continue
            f = Path(dirpath) / name
            if f.is_symlink():
                links += 1
                continue
            rel = f.relative_to(root).as_posix()
            try:
                with Image.open(f) as im:
                    w, h = im.size
            except (OSError, SyntaxError, ValueError):  # PIL.UnidentifiedImageError is an OSError
                if unreadable is None:
                    raise
                unreadable.append(Candidate(package, rel, f, 0, 0, sha256_file(f)))
                continue
            found.append(Candidate(package, rel, f, w, h, sha256_file(f)))
    return found, links


ARCHIVES = {  # package -> (folder inside the package, archive suffix)
    "gcompris-qt-data": ("usr/share/gcompris-qt/rcc", ".rcc"),
    "enlightenment-data": ("usr/share/enlightenment/data/backgrounds", ".edj"),
}
ARCHIVES_SKIPPED = {"lang.rcc"}  # GCompris' word cards: drawings at 600x600
_IMAGE_STARTS = (b"\xff\xd8\xff", b"\x89PNG")


def _is_image(data: bytes) -> bool:
    """JPEG, PNG or WebP, by their first bytes (archives also hold QML, sounds, fonts)."""
    return (
        data[:3] == _IMAGE_STARTS[0]
        or data[:4] == _IMAGE_STARTS[1]
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def unpack_archives(root: Path, package: str) -> int:
    """Write the images stored inside ``package``'s archives as plain files under ``root``; their count.

    Qt resources keep their path inside the archive (``gcompris/src/activities/...``, which the
    copyright file's ``src/activities/...`` globs match); an Eet background's largest JPEG becomes
    ``<archive stem>.jpg`` beside the archive. Files with the same bytes are left alone (re-runs).
    """
    if package not in ARCHIVES:
        return 0
    folder, suffix = ARCHIVES[package]
    count = 0
    for archive in sorted((root / folder).glob(f"*{suffix}")):
        if archive.name in ARCHIVES_SKIPPED:
            continue
        buf = archive.read_bytes()
        if suffix == ".rcc":
            found = [(e.path.lstrip("/"), e.data) for e in read_qt_rcc(buf) if _is_image(e.data)]
        else:
            found = [(f"{folder}/{archive.stem}.jpg", e.data) for e in read_eet_jpeg_images(buf)[:1]]
        for rel, data in found:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_if_changed(dest, data)
            count += 1
    return count


_SIZE_NAME = re.compile(r"^\d{3,5}x\d{3,5}$")
_SIZE_SUFFIX = re.compile(r"[_-]\d{3,5}x\d{3,5}$")
_VARIANT_DIRS = {"images": "", "images_dark": "-dark"}


def size_group_key(path: str) -> str:
    """Key shared by all sizes of one wallpaper.

    ``.../Autumn/contents/images/1920x1080.jpg`` -> ``.../Autumn`` (``images_dark`` -> ``Autumn-dark``,
    a different picture); ``.../Elephants_3840x2160.jpg`` -> ``.../Elephants``; else the path without
    its extension.
    """
    p = PurePosixPath(path)
    if _SIZE_NAME.match(p.stem):
        parts = list(p.parent.parts)
        suffix = _VARIANT_DIRS.get(parts[-1], None) if parts else None
        if suffix is not None:
            parts.pop()
        if parts and parts[-1] == "contents":
            parts.pop()
        return "/".join(parts) + (suffix or "")
    return str(p.parent / _SIZE_SUFFIX.sub("", p.stem))


def group_sizes(cands: list[Candidate]) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Keep the largest file of each (package, size group); the others are returned with a reason."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in cands:
        groups.setdefault((c.package, size_group_key(c.path)), []).append(c)
    kept, dropped = [], []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda c: (-c.pixels, c.path))
        kept.append(members[0])
        dropped += [(c, f"smaller size of {members[0].path}") for c in members[1:]]
    return kept, dropped


def assign_ids(cands: list[Candidate], late: frozenset[str] = frozenset()) -> None:
    """``<package alias>/<wallpaper name>``; a clash within a package adds the parent folder.

    The ``late`` packages (the extra ones) are named after all others and never change their ids: an
    id that is already taken gets the full package name instead of the alias.
    """
    first = [c for c in cands if c.package not in late]
    _assign_ids(first)
    rest = [c for c in cands if c.package in late]
    _assign_ids(rest)
    taken = {c.id for c in first}
    for c in rest:
        if c.id in taken:
            c.id = f"{c.package}/{c.id.split('/', 1)[1]}"


def _assign_ids(cands: list[Candidate]) -> None:
    names: dict[str, list[Candidate]] = {}
    for c in cands:
        key = size_group_key(c.path)
        names.setdefault(f"{PACKAGE_ALIASES.get(c.package, c.package)}/{PurePosixPath(key).name}", []).append(
            c
        )
    for name, members in names.items():
        for c in members:
            if len(members) == 1:
                c.id = name
            else:
                parent = PurePosixPath(size_group_key(c.path)).parent.name
                c.id = f"{name.split('/')[0]}/{parent}-{name.split('/')[1]}"
