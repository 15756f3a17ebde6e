"""Train the generative decoder (DiT-IC on dicodec's 32x latents) in three stages, like ``train.py``.

The image codec stays frozen throughout (its weights file, default ``hp32-v6``); only the DiT side trains.

1. ``prior``: rectified-flow prior on clean encoder latents (``generative.flow_matching_loss``) plus, until
   ``repa_stop``, self-alignment of block ``repa_layer``'s tokens with the clean latent (REPA, Yu et al.
   2025, with the encoder's own latent as target as in "Beyond External Guidance" (Self-Transcendence),
   switched off early as HASTE, Wang et al. 2025, recommends).
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
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import click
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from dicodec.codec.config import PRESETS
from dicodec.codec.generative import (
    GENERATIVE_PRESETS,
    UNCERTAINTY_MODES,
    GenerativeConfig,
    GenerativeDecoder,
    PatchDiscriminator,
    alignment_loss,
    codec_latents,
    distillation_loss,
    distortion_loss,
    feature_matching_loss,
    flow_matching_targets,
    gaussian_nll,
    generative_decode,
    hinge_d_loss,
    hinge_g_loss,
    load_decoder_file,
    prior_sample,
    save_decoder,
    teacher_refine,
)
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import CropSampler
from dicodec.codec.training.train import (
    Ema,
    agreed_elapsed,
    append_log,
    lr_at,
    save_checkpoint,
    setup_distributed,
)

STAGES = ("prior", "onestep", "gan")


@dataclass(frozen=True)
class DitTrainConfig:
    """One stage of generative-decoder training. Presets below; every field is also a CLI option whose
    help is the comment after it."""

    stage: str = "prior"  # Training stage: prior | onestep | gan.
    model: str = "dit-ic-s"  # Decoder preset (generative.GENERATIVE_PRESETS).
    uncertainty: str = "entropy"  # What drives m(u): entropy scales, a learned head, or none (ablation).
    latent_condition: bool = True  # Condition tokens pooled from the decoded latent (off: ablation).
    codec: str = "hp32-v6"  # Frozen codec: registry name, weights file, or preset:tiny (random, tests).
    init: str = ""  # Checkpoint whose EMA weights start this stage (prior's for onestep, onestep's for gan).
    teacher: str = ""  # Prior checkpoint of the distillation teacher ("" = init, for the onestep stage).
    data: str = "data/pack"  # Folder of training images.
    out: str = "runs/dit-prior"  # Folder for ckpt.pt and log.jsonl.
    crop: int = 512  # Crop side in px: 16x16 tokens of context; MS-SSIM needs > 160 px.
    batch_size: int = 32  # Crops per process and step.
    lr: float = 3e-4  # Peak learning rate (AdamW).
    min_lr: float = 1e-5  # Floor of the cosine schedule.
    warmup_steps: int = 500  # Linear warm-up steps.
    steps: int = 60_000  # Length of the schedule (a run may stop earlier on time).
    grad_clip: float = 1.0  # Gradient-norm clip (0 = off).
    ema_decay: float = 0.999  # EMA decay of the released weights.
    norm_batches: int = 16  # Batches measuring the per-channel latent mean/std (prior from scratch).
    w_repa: float = 0.5  # Prior: weight of the self-alignment of shallow tokens (0 = off).
    repa_layer: int = 3  # Prior: block whose tokens are aligned.
    repa_stop: int = 2_000  # Prior: step where the alignment stops (HASTE); ~1/3 of a 9-minute run.
    teacher_steps: int = 4  # Euler steps of the multi-step teacher.
    w_mse: float = 100.0  # Weight of pixel MSE (in [0, 1] units: ~0.1-0.2 at low rates).
    w_msssim: float = 1.0  # Weight of 1 - MS-SSIM (0 for crops under 161 px).
    w_lpips: float = 0.0  # Weight of LPIPS (needs AlexNet weights: dicodec eval-weights fetch).
    w_align: float = 0.05  # Weight of the alignment hinge (DiT-IC's 0.05; 0 = ablation).
    align_margin: float = 0.5  # Margin of the hinge (DiT-IC's); hp32's y_hat has cos 0.88 at quality 0.
    w_distill: float = 0.1  # Weight of distillation onto the teacher (0 = no teacher).
    w_latent: float = 0.0  # Weight of plain latent MSE to the encoder latent.
    w_nll: float = 0.0  # Weight of a Gaussian NLL target for the learned log-variance head.
    w_adv: float = 0.05  # GAN stage: weight of the generator hinge loss.
    w_fm: float = 0.0  # GAN stage: weight of discriminator feature matching (pix2pixHD), L1 over layers.
    d_lr: float = 1e-4  # GAN stage: discriminator learning rate.
    tune_synthesis: bool = False  # Train an own copy of the synthesis transform (+8.5 MB shipped).
    synthesis_lr: float = 5e-5  # Learning rate of that synthesis copy.
    disc_widths: tuple[int, ...] = (64, 128, 256, 512)  # GAN stage: discriminator widths (not on the CLI).
    max_minutes: float = 0.0  # Stop (with a checkpoint) after this long (0 = no limit).
    schedule_minutes: float = 0.0  # If > 0, the cosine runs over total training minutes, not steps.
    checkpoint_minutes: float = 3.0  # Checkpoint interval.
    log_every: int = 100  # Log a JSON line every N steps.
    seed: int = 0  # Random seed (each DDP rank adds its rank).
    device: str = "auto"  # Where to train: auto | cpu | cuda.
    tf32: bool = True  # TF32 matmuls on CUDA.
    amp: bool = True  # bf16 autocast of the DiT on CUDA (the codec stays fp32).


_S = DitTrainConfig()
_TINY = dict(model="dit-ic-tiny", codec="preset:tiny", crop=128, batch_size=4, lr=1e-3, warmup_steps=0,
             steps=20, w_msssim=0.0, log_every=5, ema_decay=0.9, norm_batches=2, repa_layer=1, repa_stop=10,
             teacher_steps=2, disc_widths=(8, 16), amp=False)  # fmt: skip
TRAIN_PRESETS: dict[str, DitTrainConfig] = {
    "prior-s": _S,
    "onestep-s": replace(_S, stage="onestep", init="runs/dit-prior/ckpt.pt", out="runs/dit-onestep",
                         batch_size=16, lr=1e-4, warmup_steps=200, steps=20_000),
    # The frozen hp32 synthesis renders even clean latents blurry: the GAN stage also trains a copy of it.
    "gan-s": replace(_S, stage="gan", init="runs/dit-onestep/ckpt.pt", teacher="runs/dit-prior/ckpt.pt",
                     out="runs/dit-gan", batch_size=16, lr=5e-5, warmup_steps=200, steps=20_000,
                     tune_synthesis=True),
    # CPU smoke runs of every stage: tiny random codec, tiny DiT, a few seconds each.
    "prior-tiny": replace(_S, out="runs/dit-tiny-prior", **_TINY),
    "onestep-tiny": replace(_S, stage="onestep", init="runs/dit-tiny-prior/ckpt.pt",
                            out="runs/dit-tiny-onestep", **_TINY),
    "gan-tiny": replace(_S, stage="gan", init="runs/dit-tiny-onestep/ckpt.pt",
                        teacher="runs/dit-tiny-prior/ckpt.pt", out="runs/dit-tiny-gan", **_TINY),
}  # fmt: skip


def load_frozen_codec(spec: str, device: torch.device) -> ImageCodec:
    """The frozen image codec: a registry name (its hash-checked file, e.g. ``codec/weights/hp32-v6``),
    a weights file, or ``preset:NAME`` for a seeded random one (tests)."""
    if spec.startswith("preset:"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            codec = ImageCodec(PRESETS[spec.split(":", 1)[1]])
            with torch.no_grad():  # a spread of coding scales, as in tests/conftest.py
                for net in codec.latent_codec.slice_nets:
                    net[-1].conv.bias.uniform_(-1.0, 2.0)
        codec.update()
    else:
        from dicodec.codec import registry
        from dicodec.codec.weights_io import load_codec_file

        known = {e.name: e for e in registry.entries() if e.weights is not None}
        codec = (
            load_codec_file(known[spec].weights, known[spec].sha256)
            if spec in known
            else load_codec_file(spec)
        )
    return codec.to(device).eval().requires_grad_(False)


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


class PriorObjective(nn.Module):
    """Flow-matching loss of the prior DiT plus self-alignment of one block's tokens (REPA-style)."""

    def __init__(self, decoder: GenerativeDecoder, layer: int):
        super().__init__()
        self.dit, self.layer = decoder.dit, layer
        hidden, channels = decoder.dit.config.hidden, decoder.dit.config.in_channels
        self.proj = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, channels))

    def forward(self, x0_n: Tensor, w_repa: float) -> dict[str, Tensor]:
        x_t, t, v = flow_matching_targets(x0_n)
        pred, tokens = self.dit(x_t, t, return_layer=self.layer)
        fm = F.mse_loss(pred.float(), v)
        target = x0_n.flatten(2).transpose(1, 2)
        repa = 1 - F.cosine_similarity(self.proj(tokens).float(), target, dim=-1).mean()
        return {"loss": fm + w_repa * repa, "fm": fm, "repa": repa}  # w_repa = 0 keeps DDP's graph whole


def onestep_terms(cfg: DitTrainConfig, ddp_decoder: nn.Module, decoder: GenerativeDecoder, codec: ImageCodec,
                  x: Tensor, lat: dict[str, Tensor], nets: dict[str, nn.Module | None],
                  autocast) -> dict:  # fmt: skip
    """Generator losses of the onestep/gan stages; also returns ``x_hat`` and the normalised ``y_n``.

    ``nets`` holds the frozen ``teacher`` and ``lpips`` networks and the discriminator ``disc`` (or None).
    """
    teacher, lpips_net, disc = nets["teacher"], nets["lpips"], nets["disc"]
    with autocast:
        out = ddp_decoder(lat["y_hat"], lat["sigma"], 1.0, return_dict=True)
        target = None
        if teacher is not None:
            y_n = decoder.normalize(lat["y_hat"])
            target = teacher_refine(teacher, y_n, decoder.config.t_s, cfg.teacher_steps)
    x0_n, y_n, x0_enc = out["x0_n"].float(), decoder.normalize(lat["y_hat"]), decoder.normalize(lat["clean"])
    x_hat = out["pixels"] if "pixels" in out else codec.synthesis(out["latent"].float())
    terms = distortion_loss(x_hat, x, cfg.w_mse, cfg.w_msssim)
    terms["align"] = alignment_loss(x0_n, x0_enc, cfg.align_margin)
    loss = terms["distortion"] + cfg.w_align * terms["align"]
    if target is not None:
        terms["distill"] = distillation_loss(x0_n, target)
        loss = loss + cfg.w_distill * terms["distill"]
    if lpips_net is not None:
        terms["lpips"] = lpips_net(x_hat.clamp(0, 1) * 2 - 1, x * 2 - 1).mean()
        loss = loss + cfg.w_lpips * terms["lpips"]
    if cfg.w_latent > 0:
        terms["latent_mse"] = F.mse_loss(x0_n, x0_enc)
        loss = loss + cfg.w_latent * terms["latent_mse"]
    if cfg.w_nll > 0 and "logvar" in out:
        terms["nll"] = gaussian_nll(out["logvar"].float(), x0_enc - y_n)
        loss = loss + cfg.w_nll * terms["nll"]
    if disc is not None:
        disc.requires_grad_(False)  # the generator step must not write gradients into D
        if cfg.w_fm > 0:
            fake_feats = disc(x_hat, y_n, return_features=True)
            with torch.no_grad():
                real_feats = disc(x, y_n, return_features=True)
            terms["g_adv"] = hinge_g_loss(fake_feats[-1])
            terms["fm"] = feature_matching_loss(fake_feats[:-1], real_feats[:-1])
            loss = loss + cfg.w_fm * terms["fm"]
        else:
            terms["g_adv"] = hinge_g_loss(disc(x_hat, y_n))
        disc.requires_grad_(True)
        loss = loss + cfg.w_adv * terms["g_adv"]
    with torch.no_grad():
        terms["m_mean"] = out["m"].float().mean()
        terms["cos"] = F.cosine_similarity(x0_n, x0_enc, dim=1).mean()
    terms.update(loss=loss, x_hat=x_hat, y_n=y_n)
    return terms


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


@torch.no_grad()
def sample_grid(
    decoder: GenerativeDecoder,
    codec: ImageCodec,
    num: int = 8,
    size: int = 256,
    steps: int = 32,
    seed: int = 0,
    data: str | None = None,
) -> np.ndarray:
    """A uint8 image grid: a row of prior samples decoded by the synthesis transform and, with ``data``, a
    row of clean-latent reconstructions of random crops (what the samples should look like)."""
    device = decoder.latent_std.device
    gen = torch.Generator(device=device).manual_seed(seed)
    latents = prior_sample(decoder, num, (size // 32, size // 32), steps, gen)
    rows = [codec.synthesize(latents.to(codec.log_gain.device))]
    if data:
        x = CropSampler(data, codec.log_gain.device, seed=seed).sample(num, size)
        level = torch.full((num,), (codec.config.levels - 1) / 2, device=x.device)
        rows.append(codec.synthesize(codec_latents(codec, x, level, coded=False)["clean"]))
    grid = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)  # (3, rows*size, num*size)
    return (grid.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def compare(decoder: GenerativeDecoder, codec: ImageCodec, data: str, qualities: list[int],
            teacher: GenerativeDecoder | None = None, teacher_steps: int = 8, realism: float = 1.0,
            max_images: int = 0) -> list[dict]:  # fmt: skip
    """Real-coded comparison of decoders on whole images (ablation "one step vs multi-step prior").

    Per image and quality: bpp and, for ``fast`` (synthesis of y_hat), ``onestep`` and, with a teacher,
    ``multistep`` (SDEdit from y_hat with ``teacher_steps`` Euler steps), PSNR, gradient and Laplacian
    energy ratios (decoded / source; 1 = as much texture as the source) and NIQE (lower = more natural).
    """
    from dicodec.codec.pipeline import pad_image
    from dicodec.codec.training.data import list_images, load_rgb
    from dicodec.eval.colors import luma
    from dicodec.eval.metrics import energy_ratio, psnr_rgb
    from dicodec.eval.niqe import niqe

    device, rows = codec.log_gain.device, []
    for path in list_images(data)[: max_images or None]:
        src = load_rgb(path)
        x = pad_image(torch.from_numpy(src.copy()).permute(2, 0, 1)[None].float().div(255).to(device))
        for q in qualities:
            strings = codec.compress(x, q)
            outs = {"fast": codec.decompress(strings, x.shape[-2:], q)}
            outs["onestep"] = generative_decode(codec, decoder, strings, x.shape[-2:], q, realism)
            if teacher is not None:
                y_n = teacher.normalize(codec.decompress_latent(strings, x.shape[-2:], q).to(device))
                refined = teacher_refine(teacher, y_n, decoder.config.t_s, teacher_steps)
                outs["multistep"] = codec.synthesize(teacher.denormalize(refined))
            bpp = 8 * sum(len(s) for s in strings) / (src.shape[0] * src.shape[1])
            for name, img in outs.items():
                dec = img[0, :, : src.shape[0], : src.shape[1]].permute(1, 2, 0).cpu().numpy() * 255 + 0.5
                dec = dec.clip(0, 255).astype(np.uint8)
                rows.append({"image": path.name, "quality": q, "decoder": name, "bpp": bpp,
                             "psnr": psnr_rgb(src, dec), "grad_ratio": energy_ratio(src, dec, "grad"),
                             "lap_ratio": energy_ratio(src, dec, "lap"),
                             "niqe": niqe(luma(dec)) if min(src.shape[:2]) > 193 else None})  # fmt: skip
    return rows


COMPARE_METRICS = ("bpp", "psnr", "grad_ratio", "lap_ratio", "niqe")


def compare_means(rows: list[dict], quality: int, decoder: str) -> dict[str, float]:
    """Mean of each :data:`COMPARE_METRICS` over the images of :func:`compare` rows at one quality and
    decoder; NaN where no image has the metric (NIQE of images under 194 px) or there are no rows."""
    group = [r for r in rows if r["quality"] == quality and r["decoder"] == decoder]
    return {m: float(np.mean([r[m] for r in group if r[m] is not None] or [np.nan])) for m in COMPARE_METRICS}


def _field_help() -> dict[str, str]:
    """Help texts of the CLI options: the comment after each field of :class:`DitTrainConfig`."""
    import inspect
    import re

    src = inspect.getsource(DitTrainConfig)
    return {m[1]: m[2] for m in re.finditer(r"^    (\w+): [^\n]*?  # ([^\n]*)$", src, re.M)}


_CHOICES = {
    "stage": STAGES,
    "model": tuple(GENERATIVE_PRESETS),
    "uncertainty": UNCERTAINTY_MODES,
    "device": ("auto", "cpu", "cuda"),
}


def _config_options(fn: Callable) -> Callable:
    """One ``--field-name`` option per documented config field (overrides the preset when given)."""
    types, helps = {"int": int, "float": float, "str": str}, _field_help()
    for f in reversed([f for f in fields(DitTrainConfig) if f.type in ("bool", *types)]):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            fn = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=helps[f.name])(fn)
        else:
            kind = click.Choice(_CHOICES[f.name]) if f.name in _CHOICES else types[f.type]
            fn = click.option(flag, f.name, type=kind, default=None, help=helps[f.name])(fn)
    return fn


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
@_config_options
def train_command(preset: str, resume: bool, export_to: str | None, name: str, **overrides) -> None:
    """Run one stage (prior, onestep or gan).

    \b
    Examples:
      python -m dicodec.codec.training.train_dit train --config prior-tiny --data my_photos --device cpu
      torchrun --nproc_per_node 2 -m dicodec.codec.training.train_dit train --config prior-s --resume
    """
    cfg = replace(TRAIN_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    record = main(cfg, resume=resume)
    if int(os.environ.get("RANK", "0")) == 0:
        if export_to:
            click.echo(f"exported {export_to} sha256={export(Path(cfg.out) / 'ckpt.pt', export_to, name)}")
        if record:
            click.echo(json.dumps(record))


@cli.command("sample")
@click.option(
    "--ckpt", type=click.Path(exists=True), required=True, help="Checkpoint (EMA is used) or exported file."
)
@click.option("--codec", "codec_spec", default=_S.codec, help="Frozen codec weights (or preset:tiny).")
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
@click.option("--codec", "codec_spec", default=_S.codec, help="Frozen codec weights (or preset:tiny).")
@click.option("--data", type=click.Path(exists=True), required=True, help="Folder of evaluation images.")
@click.option("--qualities", default="0,25,50", help="Comma-separated qualities 0..100.")
@click.option("--teacher-steps", type=int, default=8, help="Euler steps of the multi-step decode.")
@click.option("--realism", type=float, default=1.0, help="Scale of the one-step correction, 0..1.")
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
