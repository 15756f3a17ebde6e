"""What the entropy model predicts on a folder of images: coded bytes per string and the range of the
slice networks' log-scales, from the exact integer path the decoder runs.

Question: has the entropy model's log-scale range drifted (the late rate blow-up) in this checkpoint?
When: on every export before it ships (``scripts/gpu_train.sh`` and ``gpu_long_run.sh export`` run it).
Output: a per-slice table on stdout; ``--json-out FILE`` writes the result.

    python scripts/scale_probe.py codec/weights/hp32-v6.safetensors .carry/select --quality 0

Why: the late rate blow-up of long training runs (docs/training.md) shows as log-scales far outside
the scale table (down to the fixed-point limit of -4,096) and as elements at the top table scales;
this prints both, per channel slice, so a checkpoint can be checked before it ships.
"""

from __future__ import annotations

import json
import warnings

import click
import numpy as np
import torch

from dicodec.codec.fixed_point import ACT_BITS, quantize_activation_exact
from dicodec.codec.latent_codec import SCALE_LEVELS, LatentCodec, scale_index_exact
from dicodec.codec.model import ImageCodec, quality_to_level
from dicodec.codec.training.data import list_images, load_rgb

TOP_SCALES = 4  # "top" = the largest TOP_SCALES table entries (exp(5.0) and up: >= 7 bits for a zero)


def _slice_outputs(lc: LatentCodec, y: torch.Tensor):
    """Per slice of ``y`` coded by ``lc``: the fixed-point log-scales and the symbols, as decoded."""
    one = float(2**ACT_BITS)
    z = lc.hyper_analysis(y)
    medians = lc._z_medians(z.device)
    hyper = lc.hyper_synthesis.forward_exact(quantize_activation_exact(torch.round(z - medians) + medians))
    hyper = hyper[..., : y.shape[-2], : y.shape[-1]]
    context: list[torch.Tensor] = []
    for i, y_i in enumerate(y.chunk(lc.num_slices, 1)):
        mean_int, log_scale_int = lc.slice_nets[i].forward_exact(torch.cat([hyper, *context], 1)).chunk(2, 1)
        symbols = torch.round(y_i.double() - mean_int / one)
        yield log_scale_int, symbols
        context.append(lc._next_context(symbols, mean_int))


@torch.no_grad()
def probe(codec: ImageCodec, images: list[np.ndarray], quality: float) -> dict:
    """Bytes per string summed over ``images``, and per slice the log-scale range (real units) and the
    shares of elements at the top table scales and of non-zero symbols (a detail layer's slices after
    the base latent's, codec/detail_layer.py)."""
    codecs = codec.latent_codecs()
    one = float(2**ACT_BITS)
    strings = np.zeros(1 + codec.config.strings_per_tile, dtype=np.int64)
    slices = [
        {"log_scale_min": np.inf, "log_scale_max": -np.inf, "top_scales": 0, "nonzero": 0, "elements": 0}
        for lc in codecs
        for _ in range(lc.num_slices)
    ]
    gain, _ = codec.gains(quality_to_level(quality, codec.config.levels))
    for array in images:
        h, w = array.shape[0] // 128 * 128, array.shape[1] // 128 * 128
        if min(h, w) == 0:
            raise click.ClickException("images must be at least 128 px on each side")
        x = torch.from_numpy(array[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255.0
        strings += np.array([len(s) for s in codec.compress(x, quality)])
        parts = codec.split_latent(codec.analysis(x) * gain)
        outputs = (out for lc, part in zip(codecs, parts, strict=True) for out in _slice_outputs(lc, part))
        for s, (log_scale_int, symbols) in zip(slices, outputs, strict=True):
            s["log_scale_min"] = min(s["log_scale_min"], float(log_scale_int.min()) / one)
            s["log_scale_max"] = max(s["log_scale_max"], float(log_scale_int.max()) / one)
            s["top_scales"] += int((scale_index_exact(log_scale_int) >= SCALE_LEVELS - TOP_SCALES).sum())
            s["nonzero"] += int((symbols != 0).sum())
            s["elements"] += symbols.numel()
    return {
        "quality": quality,
        "images": len(images),
        "bytes_per_string": strings.tolist(),  # z, y_0 .. y_{S-1} (then a detail layer's z, y_0 ..)
        "slices": [
            {
                "log_scale_min": s["log_scale_min"],
                "log_scale_max": s["log_scale_max"],
                "top_scale_share": s["top_scales"] / s["elements"],
                "nonzero_share": s["nonzero"] / s["elements"],
            }
            for s in slices
        ],
    }


@click.command()
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.argument("folder", type=click.Path(exists=True))
@click.option("--quality", type=float, default=0.0, show_default=True, help="Quality 0..100 to probe at.")
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the result here.")
def main(weights: str, folder: str, quality: float, json_out: str | None) -> None:
    """Print coded bytes per string and the log-scale range per slice of WEIGHTS on FOLDER."""
    from dicodec.codec.weights_io import load_codec_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = load_codec_file(weights).float().eval()
    try:
        images = [load_rgb(p) for p in list_images(folder)]
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    result = probe(codec, images, quality)
    click.echo(
        f"quality {quality:g}, {len(images)} images; bytes per string (z, y0..): {result['bytes_per_string']}"
    )
    for i, s in enumerate(result["slices"]):
        click.echo(
            f"  slice {i}: log-scale {s['log_scale_min']:9.1f} .. {s['log_scale_max']:6.1f}  "
            f"top scales {100 * s['top_scale_share']:.3f}%  non-zero symbols {100 * s['nonzero_share']:.2f}%"
        )
    if json_out:
        with open(json_out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
