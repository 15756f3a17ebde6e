"""Repair and fine-tune only the entropy model of a released codec, with its transforms frozen.

Job: repair a codec file whose entropy model has drifted, on the CPU, without retraining its transforms.
When: ``scripts/scale_probe.py`` shows log-scales at the fixed-point limit or elements at the top table
scales (how ``hp32-v5`` was made from ``hp32-v4``, docs/history.md).
Output: the repaired weights (``--out``), its training log beside it (``OUT.log.json``), JSON lines on
stdout.

    python scripts/finetune_entropy.py RELEASED.safetensors --data .carry/pack/photo \\
        --val-data .carry/select --out /tmp/hp32-v5.safetensors --name hp32-v5

Why: models trained with the straight-through log-scale bound (hp32-v1..v4) hold slice networks whose
log-scales have drifted to the fixed-point limit (-4,096 against the table's -2.5; docs/training.md,
"The late rate blow-up"), which makes their rate fragile. Two phases, both on latents of training
crops computed once (the analysis transform is frozen, so they never change):

1. ``repair``: the noisy-rate objective plus the log-scale range penalty
   (:func:`~dicodec.codec.latent_codec.log_scale_excess`) under ``bound_toward``, until the
   log-scales are back near the table's range;
2. ``coded``: the rate the coder spends (likelihoods of the rounded symbols, Guo et al. 2021's
   "soft then hard" idea applied to the entropy model only) plus the same penalty. The noisy proxy
   overstates low rates up to 4x; with the transforms frozen there is no straight-through gradient
   into an encoder to worry about.

Only hyper-synthesis, slice networks and the factorized prior's density train; the transforms, gains
and hyper-analysis are copied unchanged, so a generative decoder trained on the source file's latents
still sees the same latents up to the predicted means. Each phase starts from the integers of the
previous one with float weights jittered inside their 2^-12 grid cell (the forward pass is unchanged,
but Adam's first steps no longer move every weight across a rounding boundary at the same step, which
in a CPU probe raised the rate 2x at once).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F

from dicodec.codec.fixed_point import ExactConv2d
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.codec.transforms import DOWNSCALE
from dicodec.codec.weights_io import load_codec_file, save_codec

TRAINED = ("hyper_synthesis", "slice_nets", "entropy_bottleneck")


def float_weights_from_integers(model: ImageCodec, generator: torch.Generator, jitter: float = 0.999) -> None:
    """Float copies of every frozen exact convolution, jittered by up to ``jitter / 2`` grid steps."""
    for module in model.modules():
        if isinstance(module, ExactConv2d) and module.frozen:
            module.thaw((torch.rand(module.weight_int.shape, generator=generator) - 0.5) * jitter)


@torch.no_grad()
def crop_latents(model: ImageCodec, folder: str, per_image: int, crop: int, seed: int) -> torch.Tensor:
    """Analysis latents (gain 1) of ``per_image`` random multi-scale crops of each image of ``folder``."""
    rng = np.random.default_rng(seed)
    latents = []
    for path in list_images(folder):
        image = torch.from_numpy(load_rgb(path)).permute(2, 0, 1)[None].float() / 255.0
        h, w = image.shape[-2:]
        if min(h, w) < crop:
            raise click.ClickException(f"{path} is smaller than the {crop} px crop")
        for _ in range(per_image):
            side = min(int(round(crop / rng.uniform(max(0.35, crop / min(h, w)), 1.0))), h, w)
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            x = image[..., top : top + side, left : left + side]
            x = F.interpolate(x, size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)
            if rng.random() < 0.5:
                x = x.flip(-1)
            latents.append(model.analysis(x.clamp(0, 1)))
    return torch.cat(latents)


def rate_terms(model: ImageCodec, y: torch.Tensor, level: torch.Tensor, coded: bool) -> tuple:
    """(bits per pixel, log-scale excess per pixel), batch means, for gain-1 latents ``y``."""
    gain, _ = model.gains(level)
    out = model.latent_codec(y * gain, noisy_rate=not coded)
    pixels = y.shape[-2] * y.shape[-1] * DOWNSCALE**2
    bits = sum((-torch.log2(lik)).flatten(1).sum(1) for lik in out["likelihoods"].values())
    return (bits / pixels).mean(), (out["scale_excess"] / pixels).mean()


@torch.no_grad()
def coded_bpp_per_level(model: ImageCodec, val: torch.Tensor, levels: list[float]) -> list[float]:
    torch.manual_seed(0)
    return [float(rate_terms(model, val, torch.full((val.shape[0],), lv), True)[0]) for lv in levels]


def run_phase(
    model: ImageCodec,
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    coded: bool,
    steps: int,
    lr: float,
    w_scale_range: float,
    batch: int,
    seed: int,
    log: list,
    name: str,
) -> None:
    generator = torch.Generator().manual_seed(seed)
    float_weights_from_integers(model, generator)
    params = [p for n, p in model.latent_codec.named_parameters() if n.split(".")[0] in TRAINED]
    params = [p for p in params if p is not model.latent_codec.entropy_bottleneck.quantiles]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=lr)
    top = model.config.levels - 1
    levels = [0.0, top / 2, top]
    start = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(0, train.shape[0], (batch,), generator=generator)
        level = torch.rand(batch, generator=generator) * top
        bpp, excess = rate_terms(model, train[idx], level, coded)
        optimizer.zero_grad(set_to_none=True)
        (bpp + w_scale_range * excess).backward()
        bpp, excess = bpp.detach(), excess.detach()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % 50 == 0 or step == steps:
            val_bpp = coded_bpp_per_level(model, val, levels)
            record = {"phase": name, "step": step, "bpp": bpp.item(), "scale_excess": excess.item(),
                      "val_coded_bpp": val_bpp, "minutes": (time.time() - start) / 60}  # fmt: skip
            log.append(record)
            click.echo(json.dumps(record))
    for p in params:
        p.requires_grad_(False)
    model.update()  # integers and CDF tables of this phase's result


@click.command()
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True), help="Training photos (never eval).")
@click.option("--val-data", required=True, type=click.Path(exists=True), help="Selection images.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .safetensors file.")
@click.option("--name", required=True, help="Model name stored in the file, e.g. hp32-v5.")
@click.option("--repair-steps", type=int, default=400, show_default=True)
@click.option("--repair-lr", type=float, default=3e-5, show_default=True)
@click.option("--coded-steps", type=int, default=500, show_default=True)
@click.option("--coded-lr", type=float, default=2e-5, show_default=True)
@click.option("--w-scale-range", type=float, default=0.01, show_default=True)
@click.option("--crop", type=int, default=512, show_default=True, help="Training crop (multiple of 128).")
@click.option("--crops-per-image", type=int, default=3, show_default=True)
@click.option("--batch", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
def main(weights, data, val_data, out, name, repair_steps, repair_lr, coded_steps, coded_lr, w_scale_range,
         crop, crops_per_image, batch, seed, threads) -> None:  # fmt: skip
    """Fine-tune the entropy model of WEIGHTS (transforms frozen) and write it as a new model."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = load_codec_file(weights).float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.latent_codec.scale_bound = "toward"
    # the file holds only the integers of the exact networks: float copies for the scores before phase 1
    float_weights_from_integers(model, torch.Generator().manual_seed(seed), jitter=0.0)
    train = crop_latents(model, data, crops_per_image, crop, seed)
    val = crop_latents(model, val_data, 2, crop, seed + 1)
    top = model.config.levels - 1
    log: list = [{"phase": "start", "val_coded_bpp": coded_bpp_per_level(model, val, [0.0, top / 2, top])}]
    click.echo(json.dumps(log[0]))
    common = dict(w_scale_range=w_scale_range, batch=batch, log=log)
    run_phase(model, train, val, coded=False, steps=repair_steps, lr=repair_lr, seed=seed + 10, name="repair",
              **common)  # fmt: skip
    run_phase(model, train, val, coded=True, steps=coded_steps, lr=coded_lr, seed=seed + 20, name="coded",
              **common)  # fmt: skip
    extra = {"source": Path(weights).name, "script": "scripts/finetune_entropy.py", "crop": crop,
             "train_latents": int(train.shape[0]), "repair_steps": repair_steps, "repair_lr": repair_lr,
             "coded_steps": coded_steps, "coded_lr": coded_lr, "w_scale_range": w_scale_range}  # fmt: skip
    sha = save_codec(model, out, name, extra=extra)
    Path(out + ".log.json").write_text(json.dumps(log, indent=1))
    click.echo(f"wrote {out} sha256={sha}")


if __name__ == "__main__":
    main()
