"""Fidelity ceiling of a codec's transforms: synthesis(analysis(x)) with no quantisation at all.

Question: how good can a decode get with no quantisation, i.e. do the transforms or the entropy model
hold the codec back?
When: after training a codec with new transforms, before more rate-modelling work (docs/models.md).
Output: per-image rows and means on stdout; ``--json FILE`` writes them.

    python scripts/transform_ceiling.py IMAGES_DIR [--model NAME] [--device cpu] [--json out.json]

No entropy model can make a decode better than its synthesis transform rendering the *unquantised*
latent, so this is the PSNR the RD curve saturates at as the rate grows. It tells which part of a
codec holds it back: if the curve's top is already at this ceiling, more rate-modelling work cannot
help and the transforms (width, depth, latent channels) must get stronger. Prints, per image, PSNR,
MS-SSIM and the gradient-energy ratio (decoded / source; 1 = all the source's texture) at the lowest
and the highest gain level, then the means, and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch
from pytorch_msssim import ms_ssim

from dicodec.codec import registry
from dicodec.codec.pipeline import pad_image
from dicodec.codec.training.codec_latents import codec_latents, load_frozen_codec
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.eval.metrics import energy_ratio, psnr_rgb


@torch.no_grad()
def ceiling_rows(model: str, images: str, device: str = "cpu", max_images: int = 0) -> list[dict]:
    """One row per image and gain level (lowest, highest) with PSNR, MS-SSIM and gradient ratio."""
    codec = load_frozen_codec(model, torch.device(device))
    levels = (0, codec.config.levels - 1)
    rows = []
    for path in list_images(images)[: max_images or None]:
        src = load_rgb(path)
        ref = torch.from_numpy(src.copy()).permute(2, 0, 1)[None].float().div(255)
        x = pad_image(ref.to(device))
        small = min(src.shape[:2]) <= 160  # MS-SSIM's five scales need > 160 px
        for level in levels:
            level_t = torch.full((1,), float(level), device=device)
            clean = codec_latents(codec, x, level_t, coded=False)["clean"]
            rec = codec.synthesize(clean)[0, :, : src.shape[0], : src.shape[1]].clamp(0, 1)
            dec = (rec.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            rows.append({
                "image": path.name, "level": level, "psnr": psnr_rgb(src, dec),
                "ms_ssim": None if small else float(ms_ssim(rec[None].cpu(), ref, data_range=1.0)),
                "grad_ratio": energy_ratio(src, dec, "grad"),
            })  # fmt: skip
    return rows


@click.command()
@click.argument("images", type=click.Path(exists=True))
@click.option(
    "--model",
    default=lambda: registry.default_name(),
    show_default="the registry's default codec",
    help="Registry name or weights file.",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--max-images", type=int, default=0, help="Use only the first N images (0 = all).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write rows here.")
def main(images: str, model: str, device: str, max_images: int, json_out: str | None) -> None:
    try:
        rows = ceiling_rows(model, images, device, max_images)
    except FileNotFoundError as e:  # list_images: no images under the folder
        raise click.ClickException(str(e)) from e
    for r in rows:
        msssim = "-" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
        click.echo(f"{r['image']:32s} level {r['level']}: {r['psnr']:6.2f} dB  MS-SSIM {msssim}  "
                   f"grad ratio {r['grad_ratio']:.3f}")  # fmt: skip
    summary = {}
    for level in sorted({r["level"] for r in rows}):
        group = [r for r in rows if r["level"] == level]
        summary[level] = {k: float(np.mean([r[k] for r in group if r[k] is not None] or [np.nan]))
                          for k in ("psnr", "ms_ssim", "grad_ratio")}  # fmt: skip
        s = summary[level]
        click.echo(f"mean over {len(group)} images, level {level}: {s['psnr']:.2f} dB  MS-SSIM "
                   f"{s['ms_ssim']:.4f}  grad ratio {s['grad_ratio']:.3f}")  # fmt: skip
    if json_out:
        Path(json_out).write_text(json.dumps({"model": model, "rows": rows, "mean": summary}, indent=1))


if __name__ == "__main__":
    main()
