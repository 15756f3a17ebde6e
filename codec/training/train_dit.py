"""Train the generative decoder (DiT-IC on dicodec's 32x latents) in three stages, like ``train.py``.

The image codec stays frozen throughout (its weights file, default the registry's default codec); only
the DiT side trains. The objectives are in :mod:`~dicodec.codec.training.dit_objectives`.

1. ``prior``: rectified-flow prior on clean encoder latents (``flow_matching.flow_matching_targets``)
   plus, until ``repa_stop``, self-alignment of block ``repa_layer``'s tokens with the clean latent
   (REPA, Yu et al. 2025, with the encoder's own latent as target as in "Beyond External Guidance"
   (Self-Transcendence), switched off early as HASTE, Wang et al. 2025, recommends).
2. ``onestep``: the variance-guided one-step decoder, initialised from the prior's EMA weights::

       L = w_mse MSE + w_msssim (1 - MS-SSIM) [+ w_lpips LPIPS]      on synthesis(x0)
         + w_align relu(1 - margin - cos(x0, x0_enc)) + w_distill ||x0 - teacher(y_hat)||^2
         [+ w_latent ||x0 - x0_enc||^2 + w_nll NLL(logvar)]

   where the teacher is the prior run for ``teacher_steps`` Euler steps from ``y_hat`` noised to ``t_s``.
3. ``gan``: as ``onestep`` plus ``w_adv`` times the generator hinge loss of a conditional PatchGAN and
   ``w_fm`` times feature matching on its layers (pix2pixHD, Wang et al. 2018: a perceptual loss that
   needs no ImageNet network); with ``tune_synthesis`` (on in ``gan-s``) an own copy of the codec's
   synthesis transform trains as well. ``--init`` may name a released decoder file to go on from it.

Usage (one process per GPU under ``torchrun``, or one process on a GPU or the CPU)::

    python -m dicodec.codec.training.train_dit train --config prior-s --data data/pack --out runs/dit-prior
    torchrun --nproc_per_node 2 -m dicodec.codec.training.train_dit train --config onestep-s --resume
    python -m dicodec.codec.training.train_dit sample --ckpt runs/dit-prior/ckpt.pt --out prior.png
    python -m dicodec.codec.training.train_dit compare --ckpt runs/dit-onestep/ckpt.pt \\
        --teacher runs/dit-prior/ckpt.pt --data data/eval --device cuda

Checkpoints (``ckpt.pt``: decoder, EMA, optimizers, discriminator, configs, step) are written every few
minutes and at the end; ``--resume`` continues them; ``export`` releases the EMA weights as fp16.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import click
import torch
import torch.distributed as dist
from PIL import Image
from torch import Tensor, nn

from dicodec.codec import registry
from dicodec.codec.generative_decoder import (
    GENERATIVE_PRESETS,
    GenerativeConfig,
    GenerativeDecoder,
)
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.codec_latents import codec_latents, load_frozen_codec
from dicodec.codec.training.data import CropSampler
from dicodec.codec.training.discriminator import PatchDiscriminator, hinge_d_loss
from dicodec.codec.training.dit_config import STAGES, TRAIN_PRESETS, DitTrainConfig
from dicodec.codec.training.dit_evaluation import compare, compare_means, sample_grid
from dicodec.codec.training.dit_losses import distortion_loss
from dicodec.codec.training.dit_objectives import PriorObjective, onestep_terms
from dicodec.codec.training.loop import (
    Ema,
    agreed_elapsed,
    append_log,
    is_rank_zero,
    lr_at,
    save_checkpoint,
    setup_distributed,
)
from dicodec.codec.training.options import config_options, overrides
from dicodec.codec.weights_io import load_decoder_file, save_decoder


def decoder_from_checkpoint(path: str | Path, use_ema: bool = True, device: str = "cpu") -> GenerativeDecoder:
    """The decoder stored in a training checkpoint (its EMA weights by default), or in a weights file
    written by ``export`` (``.safetensors``: what comes back from a GPU machine)."""
    if Path(path).suffix == ".safetensors":
        return load_decoder_file(path).to(device).eval()
    ckpt = torch.load(path, map_location=device, weights_only=True)
    decoder = GenerativeDecoder(GenerativeConfig(**ckpt["generative"]))
    decoder.load_state_dict(ckpt["ema"] if use_ema else ckpt["model"])
    return decoder.to(device).eval()


def load_init(decoder: GenerativeDecoder, path: str | Path, codec: ImageCodec) -> None:
    """Start from another stage's EMA weights (a checkpoint, or an exported ``.safetensors`` file such as a
    shipped decoder: the GAN stage can go on from released weights, with a fresh discriminator); only
    parts the earlier stage lacked may stay new. An own synthesis transform the earlier stage lacked
    starts as a copy of the codec's."""
    if Path(path).suffix == ".safetensors":
        state = load_decoder_file(path).state_dict()
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)["ema"]
    if decoder.synthesis is not None and not any(k.startswith("synthesis.") for k in state):
        state.update({f"synthesis.{k}": v for k, v in codec.synthesis.state_dict().items()})
    missing, _ = decoder.load_state_dict(state, strict=False)
    core = [k for k in missing if (k.startswith("dit.") and ".cross." not in k) or k.startswith("latent_")]
    if core:
        raise ValueError(f"{path} lacks decoder weights {core[:3]}: not a checkpoint of this DiT preset")


@torch.no_grad()
def measure_latent_stats(
    codec: ImageCodec, sampler: CropSampler, cfg: DitTrainConfig, world: int
) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of clean training latents, averaged over DDP ranks."""
    sums, count = 0.0, 0.0
    for _ in range(cfg.norm_batches):
        x = sampler.sample(cfg.batch_size, cfg.crop)
        level = torch.rand(cfg.batch_size, device=x.device) * (codec.config.levels - 1)
        clean = codec_latents(codec, x, level, coded=False)["clean"].double()
        sums = sums + torch.stack([clean.sum((0, 2, 3)), clean.pow(2).sum((0, 2, 3))])
        count += clean.numel() / clean.shape[1]
    if world > 1:
        dist.all_reduce(sums)
        count *= world
    mean = sums[0] / count
    return mean.float(), (sums[1] / count - mean.pow(2)).clamp_min(0).sqrt().float()


def main(cfg: DitTrainConfig, resume: bool = False) -> dict:
    """Run one training stage; returns the last logged record."""
    if cfg.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    rank, world, device = setup_distributed(cfg.device)
    out_dir = Path(cfg.out)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + rank)
    if cfg.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_amp = cfg.amp and device.type == "cuda"

    codec = load_frozen_codec(cfg.codec, device)
    own = codec.config.channels if cfg.tune_synthesis and cfg.stage != "prior" else 0
    gen_cfg = replace(GENERATIVE_PRESETS[cfg.model], uncertainty=cfg.uncertainty,
                      latent_condition=cfg.latent_condition, synthesis_channels=own)  # fmt: skip
    decoder = GenerativeDecoder(gen_cfg).to(device)
    step, samples_seen, elapsed_before = 0, 0, 0.0
    ckpt_path = out_dir / "ckpt.pt"
    ckpt = None
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
    sampler = CropSampler(cfg.data, device, seed=cfg.seed * 1000 + rank + 17 * (ckpt["step"] if ckpt else 0))
    if ckpt is None and cfg.init:
        load_init(decoder, cfg.init, codec)
    elif ckpt is None:
        decoder.set_latent_stats(*measure_latent_stats(codec, sampler, cfg, world))

    teacher = disc = lpips_net = None
    if cfg.stage != "prior" and cfg.w_distill > 0:
        teacher = decoder_from_checkpoint(cfg.teacher or cfg.init, device=str(device)).requires_grad_(False)
    if cfg.stage == "prior":
        for block in decoder.dit.blocks:  # the prior has no condition tokens: keep DDP from waiting on these
            if block.cross is not None:
                block.cross.requires_grad_(False)
        trained: nn.Module = PriorObjective(decoder, cfg.repa_layer).to(device)
    else:
        trained = decoder
    if cfg.stage == "gan":
        disc = PatchDiscriminator(decoder.dit.config.in_channels, tuple(cfg.disc_widths)).to(device)
    if cfg.w_lpips > 0 and cfg.stage != "prior":
        from dicodec.eval.learned import build_lpips
        from dicodec.eval.weights import find_weight

        lpips_net = build_lpips(find_weight("alexnet")).to(device).requires_grad_(False)
    params = [p for p in trained.parameters() if p.requires_grad]
    own_synthesis = (
        {id(p) for p in decoder.synthesis.parameters()} if decoder.synthesis is not None else set()
    )
    groups = [
        {"params": [p for p in params if id(p) not in own_synthesis], "lr_scale": 1.0},
        {"params": [p for p in params if id(p) in own_synthesis], "lr_scale": cfg.synthesis_lr / cfg.lr},
    ]
    # Fused optimizers: one kernel per step instead of several per tensor (the step is launch-bound).
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=0.0, fused=True)
    d_optimizer = (
        torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.9), fused=True) if disc else None
    )
    ema = Ema(decoder, cfg.ema_decay)
    if ckpt is not None:
        decoder.load_state_dict(ckpt["model"])
        trained.load_state_dict(ckpt["trained"])
        optimizer.load_state_dict(ckpt["optimizer"])
        ema.state = {k: v.to(device) for k, v in ckpt["ema"].items()}
        if disc is not None and ckpt.get("disc"):
            disc.load_state_dict(ckpt["disc"])
            d_optimizer.load_state_dict(ckpt["d_optimizer"])
        step, samples_seen, elapsed_before = ckpt["step"], ckpt["samples_seen"], ckpt["elapsed"]
        if rank == 0:
            print(f"resumed from {ckpt_path} at step {step}", flush=True)

    ddp_trained, ddp_disc = trained, disc
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        ddp_trained = nn.parallel.DistributedDataParallel(trained, device_ids=ids, broadcast_buffers=False)
        if disc is not None:
            ddp_disc = nn.parallel.DistributedDataParallel(disc, device_ids=ids, broadcast_buffers=False)
    if rank == 0:
        n_params = sum(p.numel() for p in decoder.parameters())
        print(f"{cfg.stage}: {world} process(es) on {device}; {len(sampler)} images; decoder "
              f"{n_params / 1e6:.2f}M parameters", flush=True)  # fmt: skip

    def checkpoint(elapsed: float) -> None:
        if rank == 0:
            save_checkpoint(ckpt_path, model=decoder.state_dict(), trained=trained.state_dict(),
                            ema=ema.state, optimizer=optimizer.state_dict(),
                            disc=disc.state_dict() if disc else {},
                            d_optimizer=d_optimizer.state_dict() if d_optimizer else {}, config=asdict(cfg),
                            generative=gen_cfg.to_dict(), step=step, samples_seen=samples_seen,
                            elapsed=elapsed)  # fmt: skip

    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp)
    log_file = out_dir / "log.jsonl"
    start = time.time()
    last_ckpt, window_start, window_samples = start, start, 0
    record: dict = {}
    trained.train()
    while step < cfg.steps:
        elapsed = agreed_elapsed(start, world, device)
        if cfg.max_minutes and elapsed > cfg.max_minutes * 60:
            break
        lr = lr_at(step, cfg, (elapsed_before + elapsed) / 60)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        x = sampler.sample(cfg.batch_size, cfg.crop)
        level = torch.rand(cfg.batch_size, device=device) * (codec.config.levels - 1)
        lat = codec_latents(codec, x, level, coded=cfg.stage != "prior")
        if cfg.stage == "prior":
            with autocast:
                terms = ddp_trained(
                    decoder.normalize(lat["clean"]), cfg.w_repa if step < cfg.repa_stop else 0.0
                )
        else:
            nets = {"teacher": teacher, "lpips": lpips_net, "disc": disc}
            terms = onestep_terms(cfg, ddp_trained, decoder, codec, x, lat, nets, autocast)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip or float("inf"))
        optimizer.step()
        if disc is not None:  # one forward over real and fake: DDP sees each parameter used once
            logits = ddp_disc(torch.cat([x, terms["x_hat"].detach()]), torch.cat([terms["y_n"]] * 2))
            real, fake = logits.chunk(2)
            terms["d_loss"] = hinge_d_loss(real, fake)
            d_optimizer.zero_grad(set_to_none=True)
            terms["d_loss"].backward()
            d_optimizer.step()
        ema.update(decoder, step)
        step += 1
        samples_seen += cfg.batch_size * world
        window_samples += cfg.batch_size * world
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.time()
            record = {k: float(v.detach()) for k, v in terms.items() if v.dim() == 0}
            if cfg.stage != "prior":  # the baseline the one step must beat: synthesis of y_hat itself
                with torch.no_grad():
                    fast = distortion_loss(codec.synthesis(lat["y_hat"]), x, 1.0, 0.0)
                record["psnr_fast"] = float(fast["psnr"])
            record.update(step=step, samples=samples_seen, lr=lr, grad_norm=float(grad_norm),
                          images_per_s=window_samples / max(now - window_start, 1e-9),
                          elapsed_min=(elapsed_before + now - start) / 60, world=world)  # fmt: skip
            window_start, window_samples = now, 0
            if rank == 0:
                append_log(log_file, record)
        if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
            checkpoint(elapsed_before + time.time() - start)
            last_ckpt = time.time()
    checkpoint(elapsed_before + time.time() - start)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return record


def export(checkpoint_path: str | Path, out_path: str | Path, name: str) -> str:
    """Release the EMA decoder of a checkpoint as fp16 safetensors; returns its sha256."""
    ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    decoder = decoder_from_checkpoint(checkpoint_path)
    extra = {
        "stage": ckpt["config"]["stage"],
        "step": ckpt["step"],
        "gpu_minutes": round(ckpt["elapsed"] / 60, 2),
        "train_config": ckpt["config"],
    }
    return save_decoder(decoder, out_path, name, extra)


@click.group()
def cli() -> None:
    """Train and inspect the generative (DiT) decoder."""


@cli.command("train")
@click.option(
    "--config",
    "preset",
    type=click.Choice(sorted(TRAIN_PRESETS)),
    default="prior-s",
    help="Training preset; the options below override its fields.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt.pt if it exists.")
@click.option("--export-to", type=click.Path(), default=None, help="After training, write EMA weights here.")
@click.option("--name", default="dit-ic-custom-v1", help="Model name stored in the exported file.")
@config_options(DitTrainConfig)
def train_command(preset: str, resume: bool, export_to: str | None, name: str, **options) -> None:
    """Run one stage (prior, onestep or gan).

    \b
    Examples:
      python -m dicodec.codec.training.train_dit train --config prior-tiny --data my_photos --device cpu
      torchrun --nproc_per_node 2 -m dicodec.codec.training.train_dit train --config prior-s --resume
    """
    cfg = replace(TRAIN_PRESETS[preset], **overrides(options))
    record = main(cfg, resume=resume)
    if is_rank_zero():
        if export_to:
            click.echo(f"exported {export_to} sha256={export(Path(cfg.out) / 'ckpt.pt', export_to, name)}")
        if record:
            click.echo(json.dumps(record))


@cli.command("sample")
@click.option(
    "--ckpt", type=click.Path(exists=True), required=True, help="Checkpoint (EMA is used) or exported file."
)
@click.option(
    "--codec",
    "codec_spec",
    default=lambda: registry.default_name(),
    show_default="the registry's default codec",
    help="Frozen codec: registry name, weights file, or preset:tiny.",
)
@click.option("--out", type=click.Path(), required=True, help="PNG file to write.")
@click.option("--num", type=int, default=8, help="Number of samples.")
@click.option("--size", type=int, default=256, help="Sample side in pixels (multiple of 32).")
@click.option("--steps", type=int, default=32, help="Euler steps from noise.")
@click.option("--seed", type=int, default=0, help="Noise seed.")
@click.option("--data", type=click.Path(exists=True), default=None, help="Add a row of real reconstructions.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", help="Where to sample.")
def sample_command(
    ckpt: str,
    codec_spec: str,
    out: str,
    num: int,
    size: int,
    steps: int,
    seed: int,
    data: str | None,
    device: str,
) -> None:
    """Draw prior samples and decode them to a PNG grid (does the prior make images?)."""
    decoder = decoder_from_checkpoint(ckpt, device=device)
    codec = load_frozen_codec(codec_spec, torch.device(device))
    Image.fromarray(sample_grid(decoder, codec, num, size, steps, seed, data)).save(out)
    click.echo(f"wrote {out}")


@cli.command("compare")
@click.option(
    "--ckpt", type=click.Path(exists=True), required=True, help="One-step decoder checkpoint or file."
)
@click.option(
    "--teacher", type=click.Path(exists=True), default=None, help="Prior checkpoint/file: adds multistep."
)
@click.option(
    "--codec",
    "codec_spec",
    default=lambda: registry.default_name(),
    show_default="the registry's default codec",
    help="Frozen codec: registry name, weights file, or preset:tiny.",
)
@click.option("--data", type=click.Path(exists=True), required=True, help="Folder of evaluation images.")
@click.option("--qualities", default="0,25,50", help="Comma-separated qualities 0..100.")
@click.option("--teacher-steps", type=int, default=8, help="Euler steps of the multi-step decode.")
@click.option(
    "--realism",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    help="One-step decode: blend its pixels from the fast decode (0) to the full generative one (1), as "
    "'dicodec decode --realism' does.",
)
@click.option("--max-images", type=int, default=0, help="Use only the first N images (0 = all).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", help="Where to decode.")
@click.option("--out", type=click.Path(), default=None, help="Write all rows as JSON here.")
def compare_command(ckpt: str, teacher: str | None, codec_spec: str, data: str, qualities: str,
                    teacher_steps: int, realism: float, max_images: int, device: str,
                    out: str | None) -> None:  # fmt: skip
    """Decode real bitstreams with fast, one-step and multi-step decoders; print mean metrics."""
    codec = load_frozen_codec(codec_spec, torch.device(device))
    teach = decoder_from_checkpoint(teacher, device=device) if teacher else None
    qs = [int(q) for q in qualities.split(",")]
    rows = compare(decoder_from_checkpoint(ckpt, device=device), codec, data, qs, teach, teacher_steps,
                   realism, max_images)  # fmt: skip
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))
    for q, decoder in sorted({(r["quality"], r["decoder"]) for r in rows}):
        means = compare_means(rows, q, decoder)
        click.echo(f"q={q:3d} {decoder:9s} " + " ".join(f"{m}={v:.4f}" for m, v in means.items()))


@cli.command("export")
@click.argument("ckpt", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
@click.option("--name", default="dit-ic-custom-v1", help="Model name stored in the file.")
def export_command(ckpt: str, out: str, name: str) -> None:
    """Write a checkpoint's EMA decoder as fp16 safetensors."""
    click.echo(f"sha256={export(ckpt, out, name)}")


if __name__ == "__main__":
    cli()
