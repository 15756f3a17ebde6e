"""What PSNR can K values per 32x32 block carry at all? A linear block transform's answer.

Question: how many latent values per 32x32 pixel block does a 36 dB transform ceiling need, so how wide
must a 32x latent be (issue: transforms that do not saturate)?
When: before choosing a latent width; the trained ceiling (``transform_ceiling.py``) is compared with it.
Output: mean and per-image PSNR per K on stdout; ``--json FILE`` writes them.

    python scripts/linear_ceiling.py TRAIN_DIR HELDOUT_DIR [--k 160,320,640,1280] [--json out.json]

The Karhunen-Loeve transform of 32x32 RGB blocks (PCA of 3,072-dimensional patches fitted on the
training photos, ``--patches-per-image`` random blocks each) keeping the K strongest components is the
best *linear*, non-overlapping transform with K values per block in the mean-square sense on data like
its fit. A 32x latent with M channels has exactly M values per block, so this is a floor for what a
nonlinear analysis/synthesis pair with M channels should reach without quantisation: learned transforms
beat block KLTs by overlapping, nonlinear synthesis (Balle et al., "End-to-end optimized image
compression", ICLR 2017). If the trained codec's ceiling sits near this line, the latent's width, not
the transforms' depth, is what holds it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from dicodec.codec.training.data import list_images, load_rgb
from dicodec.eval.metrics import psnr_from_mse

BLOCK = 32


def blocks(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (N, 3072) float64 non-overlapping 32x32 blocks in [0, 1] (the edge is cut)."""
    h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
    a = image[:h, :w].astype(np.float64) / 255
    grid = a.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4)
    return grid.reshape(-1, BLOCK * BLOCK * 3)


def fit_klt(images: list[Path], patches_per_image: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and eigenvectors (strongest first) of the blocks of ``images``."""
    rng = np.random.default_rng(seed)
    picked = []
    for path in images:
        b = blocks(load_rgb(path))
        if len(b) > patches_per_image:
            b = b[rng.choice(len(b), patches_per_image, replace=False)]
        picked.append(b)
    data = np.concatenate(picked)
    mean = data.mean(0)
    _, vectors = np.linalg.eigh(np.cov((data - mean).T))
    return mean, vectors[:, ::-1]


def block_psnr(image: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> float:
    """PSNR of ``image``'s blocks projected onto ``basis`` (3072, K) and back."""
    b = blocks(image) - mean
    mse = float((((b @ basis) @ basis.T - b) ** 2).mean())
    return float(psnr_from_mse(mse, peak=1.0))


@click.command()
@click.argument("train", type=click.Path(exists=True, file_okay=False))
@click.argument("heldout", type=click.Path(exists=True, file_okay=False))
@click.option("--k", "ks", default="160,320,640,1280", show_default=True, help="Values per block to keep.")
@click.option("--patches-per-image", type=int, default=400, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write results here.")
def main(train: str, heldout: str, ks: str, patches_per_image: int, json_out: str | None) -> None:
    try:
        mean, vectors = fit_klt(list_images(train), patches_per_image)
        targets = list_images(heldout)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    results = []
    for k in (int(v) for v in ks.split(",")):
        rows = {p.name: block_psnr(load_rgb(p), mean, vectors[:, :k]) for p in targets}
        mean_psnr = float(np.mean(list(rows.values())))
        results.append({"k": k, "values_per_pixel": k / BLOCK**2, "mean_psnr": mean_psnr, "psnr": rows})
        per_pixel = k / BLOCK**2
        click.echo(f"K={k:5d} ({per_pixel:.2f} values/pixel): mean {mean_psnr:.2f} dB, {len(rows)} images")
    if json_out:
        report = {"train": train, "heldout": heldout, "results": results}
        Path(json_out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
