"""Train a dicodec image codec. Reads top to bottom like nanoGPT's ``train.py``.

One process per GPU under ``torchrun`` (DDP), or a single process on one GPU or the CPU::

    python -m dicodec.codec.training.train --config hp32 --data data/pack --out runs/hp32 --max-minutes 9
    torchrun --nproc_per_node 2 -m dicodec.codec.training.train --config hp32 --data data/pack --out runs/hp32
    python -m dicodec.codec.training.train --config tiny --data tests/data --out /tmp/tiny --steps 50

(``dicodec train`` is the same command.) Objective (rate + lambda x distortion, Balle et al. 2018), with
one continuous gain level per sample so a single model covers quality 0..100 (Cui et al. 2021)::

    L = bpp + lambda(level) * (w_mse * 255^2 * MSE + w_msssim * (1 - MS-SSIM))

The MS-SSIM share follows the finding of Minnen et al. 2018 / CompressAI's MS-SSIM models that it buys
large MS-SSIM gains for little PSNR; 640 puts a unit of (1 - MS-SSIM) at the weight CompressAI's MSE and
MS-SSIM lambda ladders give it at equal rate (about 1280 units of 255^2 MSE), halved for a 50/50 mix.

Checkpoints (``ckpt.pt``: model, EMA, optimizers, config, step) are written every few minutes and
before ``--max-minutes`` runs out, and ``--resume`` continues from them. With ``--val-data`` every
checkpoint's EMA weights are also scored on images outside the training set (``val.jsonl``) and the
best checkpoint so far is kept as ``best.pt``. Only EMA weights are released (see :func:`export`).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
import torch
import torch.distributed as dist

from dicodec.codec.config import PRESETS
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import CropSampler, list_images, load_rgb, parse_augment, parse_mix
from dicodec.codec.training.loop import (
    Ema,
    agreed_elapsed,
    append_log,
    is_rank_zero,
    lr_at,
    save_checkpoint,
    setup_distributed,
)
from dicodec.codec.training.options import config_options, option, overrides
from dicodec.eval.metrics import psnr_from_mse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pytorch_msssim import ms_ssim

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Presets below; every field declared with ``option`` is also a CLI option."""

    preset: str = "hp32"  # architecture preset (dicodec.codec.config.PRESETS); --config picks it
    data: str = option("data/pack", "Folder of training images.", path="exists")
    out: str = option("runs/hp32", "Folder for ckpt.pt and log.jsonl.")
    crop: int = option(256, "Crop side in pixels (multiple of 128).")  # 8x8 latents, 2x2 hyper-latents
    batch_size: int = option(16, "Crops per process and step.")
    lr: float = option(2e-4, "Peak learning rate.")
    min_lr: float = option(1e-5, "Floor of the cosine schedule.")
    warmup_steps: int = option(500, "Linear warm-up steps.")
    steps: int = option(40_000, "Length of the learning-rate schedule.")  # a run may stop earlier on time
    aux_lr: float = option(1e-3, "Learning rate of the EntropyBottleneck quantiles.")
    grad_clip: float = option(1.0, "Gradient-norm clip (0 = off).")
    ema_decay: float = option(0.999, "EMA decay of the released weights.")
    w_mse: float = option(0.5, "Weight of 255^2 * MSE in the distortion.")
    # 0 disables MS-SSIM: crops under 161 px need that
    w_msssim: float = option(640.0, "Weight of (1 - MS-SSIM) in the distortion.")
    # the wall-clock budget of this invocation (0 = none); checkpoints before it ends
    max_minutes: float = option(0.0, "Stop (with a checkpoint) after this long.")
    # with a fixed GPU budget split over resumed slices, the rate always anneals by the last slice
    schedule_minutes: float = option(
        0.0, "Anneal the learning rate over this many total training minutes instead of steps."
    )
    checkpoint_minutes: float = option(3.0, "Checkpoint (and score) this often.")
    log_every: int = option(100, "Log a JSON line every N steps.")
    seed: int = option(0, "Random seed (each DDP rank adds its rank).")
    device: str = option("auto", "Where to train.", choices=DEVICES)
    tf32: bool = option(True, "TF32 matmuls on CUDA.")
    # sampling weight per top-level data subfolder
    mix: str = option("", 'Weight per data subfolder, e.g. "photo=0.75,graphics=0.25".')
    detail_candidates: int = option(1, "Keep the most detailed of N crops (see data.CropSampler).")
    # data.AUGMENTATIONS: against the entropy model over-fitting
    augment: str = option("", 'Batch augmentations, e.g. "dihedral,colour" (or "").')
    # see codec/training/warm_start.py
    init: str = option("", "Start from a released weights file (.safetensors) instead of from scratch.",
                       path="file")  # fmt: skip
    # analysis/synthesis under bf16 autocast (the entropy model stays fp32)
    amp: str = option("none", "Autocast the transforms.", choices=("none", "bf16"))
    # the whole forward pass and loss as one graph (fewer kernels)
    compile: bool = option(False, "torch.compile forward pass and loss.")
    # NHWC weights and crops: cuDNN's bf16 convolutions run on tensor cores without layout transposes
    # (2.0x the crops/s of bf16 alone on an H200 for hp32d, docs/training.md "Throughput").
    channels_last: bool = option(False, "NHWC weights and crops (faster with bf16).")
    # Throughput experiments (docs/history.md, 2026-12-01): the clock that decides stopping and the
    # learning rate is agreed every `sync_every` steps (the rate is held in between, identical on every
    # rank); the non-finite guard skips a step on the device (a few small kernels, no host sync).
    sync_every: int = option(1, "Agree on the clock (stop, lr) every N steps.")
    guard_nonfinite: bool = option(True, "Skip steps whose gradients are not finite.")
    # Checkpoint selection: at every checkpoint the EMA weights are scored on these whole images at
    # their coded rate (neither trained on nor reported; see validation_loss); the best is kept as best.pt.
    val_data: str = option(
        "", "Images (never trained on) to score each checkpoint on; the best is kept as OUT/best.pt.",
        path="exists",
    )  # fmt: skip
    # Log-scale bound of the slice networks (LatentCodec.scale_bound): "ste" passes every gradient
    # (hp32-v1..v4), "toward" only those pointing back into the table's range; w_scale_range weighs a
    # penalty (bits per pixel per unit of log-scale) on log-scales beyond the range plus a margin.
    # Both against the drift behind the late rate blow-up (docs/training.md, "The late rate blow-up").
    scale_bound: str = option("ste", "Log-scale bound gradient.", choices=("ste", "toward"))
    w_scale_range: float = option(0.0, "Penalty on log-scales beyond the table.")
    # A detail layer (codec/detail_layer.py) joins the synthesis through a zero-initialised layer, so at
    # first its latent buys no distortion and the rate term alone drives it to zero before the
    # synthesis learns to read it (the hp32x run of 2026-12-08: all detail symbols 0 after 2,840
    # steps). Its rate counts from 0 to fully over these steps, as KL annealing against posterior
    # collapse (Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016).
    detail_rate_ramp_steps: int = option(0, "Steps over which a detail layer's rate weight rises 0 -> 1.")


TRAIN_PRESETS: dict[str, TrainConfig] = {
    "hp32": TrainConfig(),
    # CPU smoke run for CI: tiny model, small crops, no MS-SSIM (needs > 160 px), a few dozen steps.
    "tiny": TrainConfig(preset="tiny", crop=128, batch_size=4, lr=1e-3, warmup_steps=0, steps=60,
                        w_msssim=0.0, log_every=10, ema_decay=0.9),
    # hp32-v2: fine-tunes hp32-v1 (--init) on a lower lambda range with larger crops (12x12 latents,
    # 3x3 hyper-latents instead of 8x8 / 2x2), a photo-heavy mix and detail-biased crops.
    "hp32b": TrainConfig(preset="hp32b", crop=384, batch_size=16, lr=1e-4, warmup_steps=200,
                         mix="photo=0.75,graphics=0.25", detail_candidates=2, compile=True),
    # hp32-v3: continues hp32-v2 (--init) with the whole step compiled (forward, entropy model, loss)
    # and twice the batch, which the compiled step turns into throughput (docs/training.md).
    "hp32c": TrainConfig(preset="hp32b", crop=384, batch_size=32, lr=1.5e-4, warmup_steps=300,
                         mix="photo=0.75,graphics=0.25", detail_candidates=2, compile=True),
    # hp32-v4: hp32-v3 (--init) grown by the zero-initialised refinement blocks of the hp32d preset, on
    # the 53-photo pack (docs/history.md), whose 8 graphics get a smaller share than the 14 of before.
    "hp32d": TrainConfig(preset="hp32d", crop=384, batch_size=32, lr=1.5e-4, warmup_steps=300,
                         mix="photo=0.85,graphics=0.15", detail_candidates=2, compile=True),
    # hp32-v5 candidate: the hp32d recipe plus dihedral and colour augmentation, against the late rate
    # blow-up on unseen photos (docs/training.md), with selection scores every 1.5 minutes.
    "hp32e": TrainConfig(preset="hp32d", crop=384, batch_size=32, lr=1.5e-4, warmup_steps=300,
                         mix="photo=0.85,graphics=0.15", detail_candidates=2, compile=True,
                         augment="dihedral,colour", checkpoint_minutes=1.5),
    # hp32e plus the log-scale fix: gradients only back into the table's range and a penalty that
    # pulls drifted log-scales (down to -6,000 in hp32-v4) back (docs/history.md, 2026-12-02).
    "hp32f": TrainConfig(preset="hp32d", crop=384, batch_size=32, lr=1.5e-4, warmup_steps=300,
                         mix="photo=0.85,graphics=0.15", detail_candidates=2, compile=True,
                         augment="dihedral,colour", checkpoint_minutes=1.5, scale_bound="toward",
                         w_scale_range=0.01),
    # hp32f on the four-times-larger photo pack (archived-photos, docs/data.md) at bf16 autocast with
    # NHWC weights and crops: the same step at ~2.1x the crops/s on an H200 (272 -> 580, docs/training.md).
    "hp32g": TrainConfig(preset="hp32d", crop=384, batch_size=32, lr=1.5e-4, warmup_steps=300,
                         mix="photo=0.85,graphics=0.15", detail_candidates=2, compile=True,
                         augment="dihedral,colour", checkpoint_minutes=1.5, scale_bound="toward",
                         w_scale_range=0.01, amp="bf16", channels_last=True),
}  # fmt: skip
# hp32g's recipe on other architectures, so that runs of equal minutes compare the networks alone:
# hp32h on the hp32d10 ladder (two more levels above hp32d's quality 100; --init hp32-v7 keeps levels
# 0-7 as they were): the rate range up to >= 1 bpp and the transform ceiling (docs/training.md);
# hp32r on hp32d10 + DC-AE residual autoencoding (zero-gated: from hp32-v7 it starts as exactly hp32h
# does) and hp32rc on hp32r plus ConvNeXt blocks at 1/16 and 1/32 (docs/training.md, "Residual
# autoencoding"); hp32w on hp32d10 with a 640-channel latent (widened from hp32-v7 without changing
# what it computes at step 0); hp32x on hp32d10 with a detail layer at 1/16 (codec/detail_layer.py,
# zero-initialised where it joins the synthesis: from hp32-v7 the same pixels at step 0).
TRAIN_PRESETS |= {
    name: replace(TRAIN_PRESETS["hp32g"], preset=architecture)
    for name, architecture in (
        ("hp32h", "hp32d10"),
        ("hp32r", "hp32r"),
        ("hp32rc", "hp32rc"),
        ("hp32w", "hp32w"),
    )
}
# hp32x: its detail layer's rate ramps in over the first 3,000 steps (detail_rate_ramp_steps).
TRAIN_PRESETS["hp32x"] = replace(TRAIN_PRESETS["hp32g"], preset="hp32x", detail_rate_ramp_steps=3000)


def rd_loss(
    model: ImageCodec,
    out: dict,
    x: torch.Tensor,
    level: torch.Tensor,
    cfg: TrainConfig,
    detail_weight: torch.Tensor | None = None,
) -> dict:
    """Per-sample rate + lambda * distortion, averaged; also returns the logged terms (``bpp``: the whole
    rate; ``detail_weight`` scales a detail layer's rate in the loss, see ``detail_rate_ramp_steps``)."""
    num_pixels = x.shape[-2] * x.shape[-1]
    bits = {key: (-torch.log2(lik)).flatten(1).sum(1) for key, lik in out["likelihoods"].items()}
    bpp = sum(bits.values()) / num_pixels
    rate = bpp
    if detail_weight is not None:
        detail_bits = (v for k, v in bits.items() if k.endswith("_detail"))
        detail_bpp = sum(detail_bits, torch.zeros_like(bpp)) / num_pixels
        rate = bpp - (1 - detail_weight) * detail_bpp
    x_hat = out["x_hat"]
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    distortion = cfg.w_mse * 255.0**2 * mse
    msssim = None
    if cfg.w_msssim > 0:
        msssim = ms_ssim(x_hat.float().clamp(0, 1), x, data_range=1.0, size_average=False)
        distortion = distortion + cfg.w_msssim * (1 - msssim)
    lam = model.lambda_at(level.to(x.device))
    loss = (rate + lam * distortion).mean()
    excess = (out["scale_excess"] / num_pixels).mean()  # logged: log-scale units beyond the range, per pixel
    if cfg.w_scale_range > 0:
        loss = loss + cfg.w_scale_range * excess
    psnr = psnr_from_mse(mse, peak=1.0).mean()
    terms = {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "psnr": psnr, "scale_excess": excess}
    if msssim is not None:
        terms["msssim"] = msssim.mean()
    if detail_weight is not None:  # a detail layer in use shows here (docs/training.md, "Detail layer")
        terms["detail_bpp"] = detail_bpp.mean()
    return terms


def validation_images(folder: str | Path, device: torch.device, multiple: int = 128) -> list[torch.Tensor]:
    """Every image of ``folder`` whole, (1, 3, H, W) in [0, 1], cut to sides that are multiples of
    ``multiple`` (so the latent and hyper-latent grids are whole)."""
    images = []
    for path in list_images(folder):
        image = torch.from_numpy(load_rgb(path)).permute(2, 0, 1)
        _, h, w = image.shape
        h, w = h // multiple * multiple, w // multiple * multiple
        if min(h, w) == 0:
            raise ValueError(f"validation image {path} is smaller than {multiple} px")
        images.append(image[None, :, :h, :w].to(device).float() / 255.0)
    return images


@torch.no_grad()
def validation_loss(model: ImageCodec, images: list[torch.Tensor], cfg: TrainConfig, levels: int = 3) -> dict:
    """The training objective on whole images at ``levels`` qualities spread over 0..100, with the
    rate the coder will spend (likelihoods of the rounded symbols), averaged over images and levels.

    Why whole images and the coded rate: on ~50 training photos the entropy model over-fits and the
    rate on unseen photos can rise while the training loss falls (docs/training.md). The first
    selection score (centre crops, noisy-rate proxy) missed such a checkpoint on 2026-12-02: its
    noisy rate on the crops rose by 6% while its coded rate on the whole images rose 6x at quality
    0 (the proxy charges ~0.2 bit for every symbol-0 element at the smallest scale; coding charges ~0,
    so it buries exactly the low-rate part where the blow-up shows). Rank 0 only; no noise, so the
    score is a pure function of the weights.
    """
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for image in images:
        for level in torch.linspace(0, model.config.levels - 1, levels).tolist():
            lv = torch.full((1,), level, device=image.device)
            out = model(image, lv, noisy_rate=False)
            # the penalty is left out so that scores compare across runs with and without it
            terms = rd_loss(model, out, image, lv, replace(cfg, w_scale_range=0.0))
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            count += 1
    model.train(was_training)
    return {f"val_{k}": v / count for k, v in totals.items()} | {"val_rate": "coded, whole images"}


def main(cfg: TrainConfig, resume: bool = False) -> dict:
    """Run training; returns the last logged record."""
    rank, world, device = setup_distributed(cfg.device)
    out_dir = Path(cfg.out)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + rank)
    if cfg.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True  # training only: decoding never depends on these kernels

    model = ImageCodec(PRESETS[cfg.preset]).to(device)
    if cfg.init and not (resume and (out_dir / "ckpt.pt").is_file()):
        from dicodec.codec.training.warm_start import warm_start

        counts = warm_start(model, cfg.init)
        if rank == 0:
            print(f"warm start from {cfg.init}: {counts}", flush=True)
    if cfg.scale_bound not in ("ste", "toward"):
        raise ValueError(f"scale_bound must be 'ste' or 'toward', got {cfg.scale_bound!r}")
    for latent_codec in model.latent_codecs():
        latent_codec.scale_bound = cfg.scale_bound
    if cfg.amp == "bf16":
        model.amp_dtype = torch.bfloat16
    elif cfg.amp != "none":
        raise ValueError(f"amp must be 'none' or 'bf16', got {cfg.amp!r}")
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    # Fused Adam: one kernel per step instead of several per tensor (the step was launch-bound), and it
    # honours ``found_inf`` (GradScaler's contract), which lets the non-finite guard skip a step
    # without a host-device synchronisation.
    optimizer = torch.optim.Adam(main_params, lr=cfg.lr, fused=True)
    aux_optimizer = torch.optim.Adam(aux_params, lr=cfg.aux_lr, fused=True)
    ema = Ema(model, cfg.ema_decay)
    step, samples_seen, elapsed_before, schedule_before = 0, 0, 0.0, 0.0
    best_val = math.inf  # lowest validation loss of a checkpoint so far (with --val-data)
    ckpt_path = out_dir / "ckpt.pt"
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        ema.state = {k: v.to(device) for k, v in ckpt["ema"].items()}
        step, samples_seen, elapsed_before = ckpt["step"], ckpt["samples_seen"], ckpt["elapsed"]
        schedule_before = ckpt.get("schedule_elapsed", elapsed_before)  # older checkpoints: wall time
        best_val = ckpt.get("best_val", best_val)
        if rank == 0:
            print(f"resumed from {ckpt_path} at step {step}", flush=True)

    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,  # buffers are constants or empty (integer tables are built at export)
        )

    # a tensor, so that the compiled step does not recompile for each new value
    detail_weight = torch.ones((), device=device) if model.detail_codec is not None else None

    def forward_loss(x: torch.Tensor, level: torch.Tensor, detail_weight: torch.Tensor | None) -> dict:
        return rd_loss(model, ddp_model(x, level), x, level, cfg, detail_weight)

    if cfg.compile:  # the whole forward pass and loss as one graph: ~6,000 small kernels become ~100s
        forward_loss = torch.compile(forward_loss)
    sampler = CropSampler(
        cfg.data,
        device,
        seed=cfg.seed * 1000 + rank + 17 * step,
        mix=parse_mix(cfg.mix),
        detail_candidates=cfg.detail_candidates,
        augment=parse_augment(cfg.augment),
    )
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{world} process(es) on {device}; {len(sampler)} images; {n_params / 1e6:.2f}M parameters",
            flush=True,
        )

    val_images = validation_images(cfg.val_data, device) if cfg.val_data and rank == 0 else None
    val_model = ImageCodec(model.config).to(device) if val_images is not None else None
    log_file = out_dir / "log.jsonl"

    def checkpoint(elapsed: float, schedule_elapsed: float) -> None:
        nonlocal best_val
        if rank != 0:
            return
        state = dict(
            model=model.state_dict(),
            ema=ema.state,
            optimizer=optimizer.state_dict(),
            aux_optimizer=aux_optimizer.state_dict(),
            config=asdict(cfg),
            step=step,
            samples_seen=samples_seen,
            elapsed=elapsed,
            schedule_elapsed=schedule_elapsed,
        )
        if val_model is not None:
            val_model.load_state_dict(ema.state)
            scores = validation_loss(val_model, val_images, cfg)
            improved = scores["val_loss"] < best_val
            best_val = min(best_val, scores["val_loss"])
            append_log(out_dir / "val.jsonl", {**scores, "step": step, "best": improved})
            if improved:
                save_checkpoint(out_dir / "best.pt", **state, best_val=best_val)
        save_checkpoint(ckpt_path, **state, best_val=best_val)

    start = time.time()
    # The cosine over --schedule-minutes runs on training time: its clock starts once the first step
    # has run, so data loading and compilation (3-5 minutes on one GPU, docs/training.md) do not use
    # up the high learning rates. --max-minutes stays a wall-clock budget.
    schedule_zero: float | None = None

    def clocks() -> tuple[float, float]:
        """(wall seconds, schedule seconds) trained in all, for a checkpoint."""
        now = time.time() - start
        zero = now if schedule_zero is None else schedule_zero
        return elapsed_before + now, schedule_before + now - zero

    last_ckpt, window_start, window_samples = start, start, 0
    record: dict = {}
    skipped_steps = torch.zeros((), device=device)  # steps whose gradients were not finite
    model.train()
    lr, next_sync = cfg.lr, step  # the first step (also of a resumed run) always agrees on the clock
    first_step = step
    while step < cfg.steps:
        if step >= next_sync:
            next_sync = step + max(1, cfg.sync_every)
            elapsed = agreed_elapsed(start, world, device)
            if cfg.max_minutes and elapsed > cfg.max_minutes * 60:
                break
            if schedule_zero is None and step > first_step:
                schedule_zero = elapsed
            trained = schedule_before + elapsed - (elapsed if schedule_zero is None else schedule_zero)
            if cfg.schedule_minutes and trained >= cfg.schedule_minutes * 60:
                break  # annealed: the schedule is the plan, --max-minutes only a cap
            lr = lr_at(step, cfg, trained / 60)
            for group in optimizer.param_groups:
                group["lr"] = lr
        x = sampler.sample(cfg.batch_size, cfg.crop)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        level = torch.rand(cfg.batch_size, device=device) * (model.config.levels - 1)
        if detail_weight is not None:
            detail_weight.fill_(
                min(1.0, step / cfg.detail_rate_ramp_steps) if cfg.detail_rate_ramp_steps else 1.0
            )
        terms = forward_loss(x, level, detail_weight)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(main_params, cfg.grad_clip or float("inf"))
        aux_loss = model.aux_loss()
        aux_optimizer.zero_grad(set_to_none=True)
        aux_loss.backward()
        if world > 1:  # the aux loss runs outside DDP: average its gradients by hand
            for p in aux_params:
                dist.all_reduce(p.grad)
                p.grad /= world
        if cfg.guard_nonfinite:
            # DDP has averaged the gradients, so every rank sees the same norm and skips the same
            # steps: one non-finite batch must not poison the weights (a zero likelihood bound once
            # gave infinite rates from the first step, see docs/history.md). The fused optimizers
            # skip on the device; nothing here waits for the GPU.
            bad = (~torch.isfinite(grad_norm)).float()
            optimizer.found_inf = bad
            aux_bad = torch.stack([~torch.isfinite(p.grad).all() for p in aux_params]).any().float()
            aux_optimizer.found_inf = torch.maximum(bad, aux_bad)
            skipped_steps += bad
        optimizer.step()
        aux_optimizer.step()
        ema.update(model, step)
        step += 1
        samples_seen += cfg.batch_size * world
        window_samples += cfg.batch_size * world
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.time()
            record = {k: float(v.detach()) for k, v in terms.items()}
            record.update(
                step=step,
                samples=samples_seen,
                lr=lr,
                aux=float(aux_loss.detach()),
                images_per_s=window_samples / max(now - window_start, 1e-9),
                elapsed_min=(elapsed_before + now - start) / 60,
                world=world,
                skipped=int(skipped_steps),
            )
            window_start, window_samples = now, 0
            if rank == 0:
                append_log(log_file, record)
        if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
            checkpoint(*clocks())
            last_ckpt = time.time()
    checkpoint(*clocks())
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return record


def codec_from_checkpoint(ckpt: dict, use_ema: bool = True) -> ImageCodec:
    """The codec of a loaded training checkpoint (``ckpt.pt`` or ``best.pt``), EMA weights by default."""
    model = ImageCodec(PRESETS[TrainConfig(**ckpt["config"]).preset])
    model.load_state_dict(ckpt["ema"] if use_ema else ckpt["model"])
    return model


def export(checkpoint_path: str | Path, out_path: str | Path, name: str, use_ema: bool = True) -> str:
    """Release the EMA weights of a checkpoint as an fp16 safetensors file; returns its sha256."""
    from dicodec.codec.weights_io import save_codec

    ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    model = codec_from_checkpoint(ckpt, use_ema)
    model.eval().update()
    extra = {
        "step": ckpt["step"],
        "samples_seen": ckpt["samples_seen"],
        "gpu_minutes": round(ckpt["elapsed"] / 60, 2),
        "train_config": ckpt["config"],
    }
    return save_codec(model, out_path, name, extra)


@click.command("train", context_settings={"show_default": True})
@click.option(
    "--config",
    "train_preset",
    type=click.Choice(sorted(TRAIN_PRESETS)),
    default="hp32",
    help="Training preset; the options below override its fields.",
)
@config_options(TrainConfig)
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt.pt if it exists.")
@click.option(
    "--export-to",
    type=click.Path(),
    default=None,
    help="After training, write the EMA weights as fp16 safetensors here.",
)
@click.option("--name", default="custom-v1", help="Model name stored in the exported file.")
def train_command(train_preset: str, resume: bool, export_to: str | None, name: str, **options) -> None:
    """Train (or continue training) a codec on a folder of images.

    \b
    Examples:
      dicodec train --config tiny --data my_photos --out runs/tiny --steps 100
      torchrun --nproc_per_node 2 -m dicodec.codec.training.train --data data/pack --max-minutes 9 --resume
    """
    cfg = replace(TRAIN_PRESETS[train_preset], **overrides(options))
    record = main(cfg, resume=resume)
    if export_to and is_rank_zero():
        sha = export(Path(cfg.out) / "ckpt.pt", export_to, name)
        click.echo(f"exported {export_to} sha256={sha}")
    if record and is_rank_zero():
        click.echo(json.dumps(record))


if __name__ == "__main__":
    train_command()
