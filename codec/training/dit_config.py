"""The DiT decoder's training configuration: one frozen dataclass and the named presets of its stages.

Apart from :mod:`~dicodec.codec.training.train_dit` so that the objectives
(:mod:`~dicodec.codec.training.dit_objectives`) can read a config without importing the loop that
imports them. Every field declared with :func:`~dicodec.codec.training.options.option` is also an
option of ``train_dit train``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dicodec.codec import registry
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, UNCERTAINTY_MODES
from dicodec.codec.training.options import option

STAGES = ("prior", "onestep", "gan")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DitTrainConfig:
    """One stage of generative-decoder training. Presets below; every field declared with ``option`` is
    also a CLI option with that help."""

    stage: str = option("prior", "Training stage.", choices=STAGES)
    model: str = option("dit-ic-s", "Decoder preset (GENERATIVE_PRESETS).", choices=tuple(GENERATIVE_PRESETS))
    uncertainty: str = option(
        "entropy", "What drives m(u): entropy scales, a learned head, or none (ablation).",
        choices=UNCERTAINTY_MODES,
    )  # fmt: skip
    latent_condition: bool = option(True, "Condition tokens pooled from the decoded latent (off: ablation).")
    # the registry's default codec unless told otherwise (a release may change it)
    codec: str = option(
        help="Frozen codec: registry name, weights file, or preset:tiny (random, tests). Default: the "
        "registry's default codec.",
        factory=lambda: registry.default_name(),
    )
    init: str = option(
        "", "Checkpoint whose EMA weights start this stage (prior's for onestep, onestep's for gan)."
    )
    teacher: str = option("", 'Prior checkpoint of the distillation teacher ("" = init; onestep stage).')
    data: str = option("data/pack", "Folder of training images.", path="exists")
    out: str = option("runs/dit-prior", "Folder for ckpt.pt and log.jsonl.")
    crop: int = option(512, "Crop side in px: 16x16 tokens of context; MS-SSIM needs > 160 px.")
    batch_size: int = option(32, "Crops per process and step.")
    lr: float = option(3e-4, "Peak learning rate (AdamW).")
    min_lr: float = option(1e-5, "Floor of the cosine schedule.")
    warmup_steps: int = option(500, "Linear warm-up steps.")
    steps: int = option(60_000, "Length of the schedule (a run may stop earlier on time).")
    grad_clip: float = option(1.0, "Gradient-norm clip (0 = off).")
    ema_decay: float = option(0.999, "EMA decay of the released weights.")
    norm_batches: int = option(16, "Batches measuring the per-channel latent mean/std (prior from scratch).")
    w_repa: float = option(0.5, "Prior: weight of the self-alignment of shallow tokens (0 = off).")
    repa_layer: int = option(3, "Prior: block whose tokens are aligned.")
    repa_stop: int = option(2_000, "Prior: step where the alignment stops (HASTE); ~1/3 of a 9-minute run.")
    teacher_steps: int = option(4, "Euler steps of the multi-step teacher.")
    w_mse: float = option(100.0, "Weight of pixel MSE (in [0, 1] units: ~0.1-0.2 at low rates).")
    w_msssim: float = option(1.0, "Weight of 1 - MS-SSIM (0 for crops under 161 px).")
    w_lpips: float = option(0.0, "Weight of LPIPS (needs AlexNet weights: dicodec eval-weights fetch).")
    w_align: float = option(0.05, "Weight of the alignment hinge (DiT-IC's 0.05; 0 = ablation).")
    # hp32's y_hat has cos 0.88 at quality 0
    align_margin: float = option(0.5, "Margin of the alignment hinge (DiT-IC's).")
    w_distill: float = option(0.1, "Weight of distillation onto the teacher (0 = no teacher).")
    w_latent: float = option(0.0, "Weight of plain latent MSE to the encoder latent.")
    w_nll: float = option(0.0, "Weight of a Gaussian NLL target for the learned log-variance head.")
    w_adv: float = option(0.05, "GAN stage: weight of the generator hinge loss.")
    w_fm: float = option(0.0, "GAN stage: weight of discriminator feature matching (pix2pixHD, L1).")
    d_lr: float = option(1e-4, "GAN stage: discriminator learning rate.")
    tune_synthesis: bool = option(False, "Train an own copy of the synthesis transform (+8.5 MB shipped).")
    synthesis_lr: float = option(5e-5, "Learning rate of that synthesis copy.")
    disc_widths: tuple[int, ...] = (64, 128, 256, 512)  # GAN stage: discriminator widths (not on the CLI)
    max_minutes: float = option(0.0, "Stop (with a checkpoint) after this long (0 = no limit).")
    schedule_minutes: float = option(0.0, "If > 0, the cosine runs over total training minutes, not steps.")
    checkpoint_minutes: float = option(3.0, "Checkpoint interval.")
    log_every: int = option(100, "Log a JSON line every N steps.")
    seed: int = option(0, "Random seed (each DDP rank adds its rank).")
    device: str = option("auto", "Where to train.", choices=DEVICES)
    tf32: bool = option(True, "TF32 matmuls on CUDA.")
    amp: bool = option(True, "bf16 autocast of the DiT on CUDA (the codec stays fp32).")




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
