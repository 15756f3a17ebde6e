"""The checkpoint-selection set: held-out images that are neither trained on nor reported.

``dicodec train --val-data`` scores every checkpoint on such a folder and keeps the best (on 48 training
images the entropy model over-fits while the training loss still falls: docs/training.md). The images
the model card reports on (the eight scikit-image / scikit-learn photos) must stay out of it, or the
reported numbers would be chosen on themselves. This set is the four held-out high-resolution photos
(``eval_hr/``), downscaled to a 1024 px long side (the detail density of the reported photos) and saved
as JPEG q95 so the folder travels to the GPU machine in ~2.5 MB, plus the scikit-image textures brick,
grass and gravel.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from .errors import DataError

TEXTURES = ("skimage_brick.png", "skimage_grass.png", "skimage_gravel.png")
LONG_SIDE = 1024


def write_selection_set(data: Path, out: Path, long_side: int = LONG_SIDE) -> tuple[int, float]:
    """Write the set into ``out`` from the output folder ``data`` of ``dicodec data prepare``.

    Returns ``(number of photos, MB in out)``.
    """
    photos = sorted((data / "eval_hr").glob("*.png"))
    if not photos:
        raise DataError(f"no photos in {data / 'eval_hr'}: run 'dicodec data prepare' first")
    missing = [name for name in TEXTURES if not (data / "eval" / name).is_file()]
    if missing:
        raise DataError(f"{', '.join(missing)} missing in {data / 'eval'}: run 'dicodec data prepare' first")
    out.mkdir(parents=True, exist_ok=True)
    for path in photos:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = long_side / max(im.size)
            size = (round(im.width * scale), round(im.height * scale))
            im.resize(size, Image.Resampling.LANCZOS).save(
                out / f"{path.stem}.jpg", quality=95, subsampling=0
            )
    for name in TEXTURES:
        shutil.copy2(data / "eval" / name, out / name)
    return len(photos), sum(p.stat().st_size for p in out.iterdir()) / 1e6
