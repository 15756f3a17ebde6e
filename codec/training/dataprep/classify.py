"""``photo`` or ``graphics``: a measured rule, roughly right by design, and the overrides checked by
eye on the contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .dedupe import gray_thumb
from .files import log
from .pixels import load_rgb, resize_long_side
from .scan import Candidate

ANALYSIS_LONG_SIDE = 512  # features are measured at one fixed scale so thresholds mean the same everywhere
# classify(): share of "flat" pixels above which a JPEG counts as graphics. On the 2023 packages the
# photos reach at most 0.42 (foggy lake, water drop); flat vector art starts at 0.52.
PHOTO_MAX_FLAT = 0.45
# Packages whose lossy WebP files are camera photos (GCompris' activity photos), not lossless exports.
LOSSY_WEBP_PHOTO_PACKAGES = frozenset({"gcompris-qt-data"})

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
                "sea5",
                "bee",
                "butterfly",
                "caterpillar",
                "kingfisher",
                "northern_harrier",
                "duck",
                "owl",
                "redPyramid",
                "france-eiffelTower",
                "statueofLiberty",
                "middleeast",
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
                "Bosschaert_04",
                "Paul_Gauguin_006",
                "Pieter_Bruegel",
                "Van_Gogh_0011",
                "Van_Gogh_The_Night_Cafe",
                "VincentVanGogh0019",
                "VincentVanGoghBridge",
            )
        ],
        "graphics",
    ),  # fmt: skip
}


def is_lossless_file(path: Path, package: str) -> bool:
    """PNG and WebP count as lossless exports (graphics), except lossy WebP of LOSSY_WEBP_PHOTO_PACKAGES."""
    suffix = path.suffix.lower()
    if suffix == ".webp" and package in LOSSY_WEBP_PHOTO_PACKAGES:
        with open(path, "rb") as f:
            return f.read(16)[12:16] == b"VP8L"  # the first chunk: "VP8 " lossy, "VP8L" lossless
    return suffix in (".png", ".webp")


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
