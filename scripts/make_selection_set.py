"""Build the checkpoint-selection set: held-out images that are neither trained on nor reported.

``dicodec train --val-data`` scores every checkpoint on such a folder and keeps the best (on 48 training
images the entropy model over-fits while the training loss still falls: docs/training.md). The images
the model card reports on (the eight scikit-image / scikit-learn photos) must stay out of it, or the
reported numbers would be chosen on themselves. This set is the four held-out high-resolution photos
(``data/eval_hr``), downscaled to a 1024 px long side (the detail density of the reported photos) and
saved as JPEG q95 so the folder travels to the GPU machine in ~2.5 MB, plus the scikit-image textures
brick, grass and gravel::

    python scripts/make_selection_set.py --data data --out .carry/select
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from PIL import Image

TEXTURES = ("skimage_brick.png", "skimage_grass.png", "skimage_gravel.png")


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False), default="data", show_default=True,
              help="Output folder of scripts/prepare_data.py.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to create.")
@click.option("--long-side", type=int, default=1024, show_default=True)
def main(data: str, out: str, long_side: int) -> None:
    source, dest = Path(data), Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    photos = sorted((source / "eval_hr").glob("*.png"))
    if not photos:
        raise click.ClickException(f"no photos in {source / 'eval_hr'}: run scripts/prepare_data.py first")
    for path in photos:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = long_side / max(im.size)
            size = (round(im.width * scale), round(im.height * scale))
            im.resize(size, Image.LANCZOS).save(dest / f"{path.stem}.jpg", quality=95, subsampling=0)
    for name in TEXTURES:
        shutil.copy2(source / "eval" / name, dest / name)
    total = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    click.echo(f"{len(photos)} photos + {len(TEXTURES)} textures in {dest}, {total:.1f} MB")


if __name__ == "__main__":
    main()
