"""Quick real-coding rate-distortion check of a weights file (a training sanity check, not the eval suite).

Question: what rate, PSNR and MS-SSIM does a candidate weights file reach with real entropy coding?
When: on every training export (``scripts/gpu_train.sh`` runs it) and before comparing checkpoints;
claims come from ``dicodec eval``.
Output: means per quality on stdout and one JSON line.

    python scripts/rd_quick.py WEIGHTS.safetensors IMAGES_DIR [--qualities 0,25,50,75,100] [--device cuda]

Encodes every image with true entropy coding at each quality, decodes it, and prints mean bpp, PSNR and
MS-SSIM per quality plus a JSON line. The eval suite (``dicodec eval``) is the reference for claims.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import torch
from pytorch_msssim import ms_ssim

import dicodec
from dicodec.codec import registry
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.eval.metrics import psnr_rgb


@click.command()
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.argument("images", type=click.Path(exists=True))
@click.option("--qualities", default="0,20,40,60,80,100", help="Comma-separated qualities.")
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@click.option("--max-images", type=int, default=0, help="Use only the first N images (0 = all).")
def main(weights: str, images: str, qualities: str, device: str, max_images: int) -> None:
    name = registry.register_files(weights, suffix="-check")
    files = list_images(images)[: max_images or None]
    results = []
    for q in [int(v) for v in qualities.split(",")]:
        bpps, psnrs, msssims, times = [], [], [], []
        for path in files:
            img = load_rgb(path)
            t0 = time.time()
            data = dicodec.encode(img, quality=q, model=name, device=device)
            rec = dicodec.decode(data, device=device)
            times.append(time.time() - t0)
            bpps.append(8 * len(data) / (img.shape[0] * img.shape[1]))
            psnrs.append(psnr_rgb(img, rec))
            a = torch.from_numpy(img).permute(2, 0, 1)[None].float()
            b = torch.from_numpy(rec).permute(2, 0, 1)[None].float()
            if min(img.shape[:2]) > 160:
                msssims.append(float(ms_ssim(a, b, data_range=255)))
        row = {
            "quality": q,
            "bpp": float(np.mean(bpps)),
            "psnr": float(np.mean(psnrs)),
            "msssim": float(np.mean(msssims)) if msssims else None,
            "seconds": float(np.mean(times)),
        }
        results.append(row)
        print(
            f"q={q:3d} bpp={row['bpp']:.4f} psnr={row['psnr']:.2f} msssim={row['msssim']} "
            f"enc+dec={row['seconds']:.2f}s",
            flush=True,
        )
    print(json.dumps({"weights": Path(weights).name, "images": len(files), "results": results}))


if __name__ == "__main__":
    main()
