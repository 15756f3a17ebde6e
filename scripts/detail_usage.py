"""Does a codec's detail layer carry anything? Its latent's size and the PSNR it adds, per level.

Question: has a training run taught the detail layer (codec/detail_layer.py) to code detail, or has the
rate term driven it to zero (the hp32x run of 2026-12-08, docs/history.md)?
When: on a candidate with a detail layer, before judging it on held-out photos.
Output: one line per level: mean |y| of the detail latent (gain-scaled), the share of its elements
that round to a non-zero symbol, and the PSNR of the unquantised codec with and without the detail
layer (its latent set to zero) on the images; ``--json FILE`` writes the rows.

    python scripts/detail_usage.py hp32x-cand.safetensors .carry/select --levels 0,5,9
"""

from __future__ import annotations

import json

import click
import torch

from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.eval.metrics import psnr_from_mse

MAX_SIDE = 512  # centre crops: the measure is about the layer, not the whole photo


def _crop(array) -> torch.Tensor:
    h, w = min(array.shape[0], MAX_SIDE) // 32 * 32, min(array.shape[1], MAX_SIDE) // 32 * 32
    top, left = (array.shape[0] - h) // 2, (array.shape[1] - w) // 2
    x = torch.from_numpy(array[top : top + h, left : left + w].copy()).permute(2, 0, 1)[None]
    return x.float() / 255.0


@torch.no_grad()
def detail_usage(codec: ImageCodec, images: list[torch.Tensor], levels: list[float]) -> list[dict]:
    """Per level: the detail latent's mean magnitude and non-zero share, PSNR with and without it."""
    rows = []
    for level in levels:
        gain, inverse_gain = codec.gains(torch.tensor([level]))
        magnitude, nonzero, with_mse, without_mse = 0.0, 0.0, 0.0, 0.0
        for x in images:
            y = codec.analysis(x) * gain
            detail = codec.split_latent(y)[1]  # a view: zeroing it below removes the layer from y
            magnitude += detail.abs().mean().item()
            nonzero += (detail.abs() > 0.5).float().mean().item()
            with_mse += (codec.synthesis(y * inverse_gain).clamp(0, 1) - x).pow(2).mean().item()
            detail.zero_()
            without_mse += (codec.synthesis(y * inverse_gain).clamp(0, 1) - x).pow(2).mean().item()
        n = len(images)
        rows.append(
            {
                "level": level,
                "detail_mean_abs": magnitude / n,
                "detail_nonzero_share": nonzero / n,
                "psnr_with": psnr_from_mse(with_mse / n, peak=1.0),
                "psnr_without": psnr_from_mse(without_mse / n, peak=1.0),
            }
        )
    return rows


@click.command()
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.argument("folder", type=click.Path(exists=True))
@click.option("--levels", default="0,5,9", show_default=True, help="Gain levels, comma-separated.")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the rows here."
)
def main(weights: str, folder: str, levels: str, json_out: str | None) -> None:
    """Print how much WEIGHTS' detail layer carries on the images of FOLDER."""
    from dicodec.codec.weights_io import load_codec_file

    codec = load_codec_file(weights).float().eval()
    if codec.detail_codec is None:
        raise click.ClickException(f"{weights}: this codec has no detail layer")
    images = [_crop(load_rgb(p)) for p in list_images(folder)]
    rows = detail_usage(codec, images, [float(v) for v in levels.split(",")])
    for r in rows:
        click.echo(
            f"level {r['level']:g}: detail |y| {r['detail_mean_abs']:.3f}, non-zero "
            f"{100 * r['detail_nonzero_share']:.2f}%, PSNR {r['psnr_with']:.2f} dB "
            f"(without the layer {r['psnr_without']:.2f})"
        )
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"weights": weights, "images": len(images), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
