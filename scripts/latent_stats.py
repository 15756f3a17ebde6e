"""Coding error of a codec's 32x latents per quality: what sets the DiT-IC decoder's ``t_s`` and ``knee``.

Question: how large is the coding error of the latents per quality, in the DiT's units, so which ``t_s``?
When: after every codec retrain, before training the DiT prior on it (docs/dit.md).
Output: a markdown table and the matching ``t_s`` on stdout; ``--json-out FILE`` writes the rows.

For random crops of a folder of images, compares the clean encoder latent with the decoded one (exact
integer coding, no range coder) in the per-channel normalised units the DiT works in, and reports the
coding scales relative to that, how well the synthesis does from each, and their cosine similarity.
The one-step decoder treats ``y_hat`` as the flow state at ``t_s``, so the noise level
``t_s / (1 - t_s)`` should match the coding-error std at the lowest quality (docs/dit.md)::

    python scripts/latent_stats.py --data data/pack --crops 12   # --codec NAME: another than the default
"""

from __future__ import annotations

import json

import click
import torch
import torch.nn.functional as F

from dicodec.codec import registry
from dicodec.codec.model import quality_to_level
from dicodec.codec.training.codec_latents import codec_latents, load_frozen_codec
from dicodec.codec.training.data import CropSampler
from dicodec.eval.metrics import psnr_from_mse


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(psnr_from_mse(F.mse_loss(a.clamp(0, 1), b), peak=1.0))


@click.command()
@click.option(
    "--codec",
    "codec_spec",
    default=lambda: registry.default_name(),
    show_default="the registry's default codec",
    help="Registry name or weights file.",
)
@click.option("--data", type=click.Path(exists=True), required=True, help="Folder of images to crop.")
@click.option("--crops", type=int, default=12, show_default=True)
@click.option("--crop", type=int, default=256, show_default=True, help="Crop side in pixels.")
@click.option("--qualities", default="0,15,30,50,75,100", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json-out", type=click.Path(), default=None)
def main(
    codec_spec: str, data: str, crops: int, crop: int, qualities: str, seed: int, json_out: str | None
) -> None:
    device = torch.device("cpu")
    codec = load_frozen_codec(codec_spec, device)
    x = CropSampler(data, device, seed=seed).sample(crops, crop)
    rows = []
    with torch.no_grad():
        # Normalisation as the DiT's: per-channel statistics of clean latents over all qualities.
        levels = [quality_to_level(int(q), codec.config.levels) for q in qualities.split(",")]
        clean_all = torch.cat(
            [codec_latents(codec, x, lv.repeat(crops), coded=False)["clean"] for lv in levels]
        )
        std = clean_all.transpose(0, 1).flatten(1).std(1).clamp_min(1e-3).view(1, -1, 1, 1)
        for q, lv in zip(qualities.split(","), levels, strict=True):
            lat = codec_latents(codec, x, lv.repeat(crops))
            err = (lat["y_hat"] - lat["clean"]) / std
            u = (lat["sigma"] / std).flatten()
            cos = F.cosine_similarity(lat["y_hat"].flatten(1), lat["clean"].flatten(1)).mean()
            rows.append(
                {
                    "quality": int(q),
                    "error_std": round(float(err.std()), 3),
                    "u_median": round(float(u.median()), 3),
                    "u_p90": round(float(u.quantile(0.9)), 3) if u.numel() <= 2**24 else None,
                    "psnr_synth_yhat": round(psnr(codec.synthesis(lat["y_hat"]), x), 2),
                    "psnr_synth_clean": round(psnr(codec.synthesis(lat["clean"]), x), 2),
                    "cos": round(float(cos), 3),
                }
            )
    click.echo("| quality | coding error std (normalised) | u: median, 90th pct | PSNR synth(y_hat) | "
               "PSNR synth(clean) | cos(y_hat, clean) |")  # fmt: skip
    click.echo("|---|---|---|---|---|---|")
    for r in rows:
        click.echo(
            f"| {r['quality']} | {r['error_std']:.2f} | {r['u_median']:.2f}, {r['u_p90']:.2f} | "
            f"{r['psnr_synth_yhat']:.2f} | {r['psnr_synth_clean']:.2f} | {r['cos']:.3f} |"
        )
    t_s = rows[0]["error_std"] / (1 + rows[0]["error_std"])
    click.echo(f"t_s matching quality {rows[0]['quality']}: {t_s:.2f} (t / (1 - t) = coding error std)")
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"codec": codec_spec, "crops": crops, "crop": crop, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
