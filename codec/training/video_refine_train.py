"""Stage I of the video refinement (GNVC-VD): the video DiT and its adaptor, trained in latent space.

    python -m dicodec.codec.training.video_refine_train --data PHOTOS --out vdit.safetensors \\
        [--codec hp32-v7 --model vdit-s --init-dit PRIOR_OR_DECODER]

GNVC-VD (Mao et al., arXiv 2512.05016) trains its refinement first in latent space, then with pixel
losses through the decoder; this is the first stage. Each step renders a batch of clips from the
training photos (:func:`~dicodec.codec.training.video_data.render_clip`), codes them with the frozen
image codec as the video path codes a group of pictures, and trains the
:class:`~dicodec.codec.video.refiner.VideoDiT` and
:class:`~dicodec.codec.video.refiner.ConditioningAdaptor` on GNVC-VD's flow from the decoded latents
(:mod:`dicodec.codec.video.refine_flow`, normalised units)::

    L = || v_theta(x_s, s, cues) - v* ||^2  +  w_refine * || refine(x_c) - x ||^2

``v*`` is the velocity of the straight path from the start state (decoded latents partly noised) to
the clean latents: the rectified-flow velocity plus a correction toward the clean latents. The second
term is the latent MSE of the refined result itself, the ``refine_steps`` Euler steps a decoder takes,
back-propagated through all of them.

**Which decoded latents.** The refiner must learn on exactly what a decoder holds, so the latents come
from :func:`~dicodec.codec.video.clip.simulate_group_coding`: frame 0 intra with the latent codec's
integer arithmetic, frames 1.. inter against the previous *decoded* latent with the clip's inter scheme
(the training-free temporal mean, or ``--inter-model``), i.e. ``clip.encode_clip``'s arithmetic with no
range coder, batched, and with the coding scale of every element, which the adaptor reads and which
``clip.py``'s stream functions do not return. ``video_train``'s simulation was not reused: its inter
frames are the contextual model's straight-through training pass (float, not the exact decode) and it
needs a contextual model, which does not ship. Inter frames are always coded inter
(``encode_clip``'s ``inter="always"``); with the default ``"cheaper"`` the encoder may keep an intra
frame instead, which on clips rendered this way it did not (docs/video.md, every inter frame was
cheaper). The clean target is the encoder latent of each frame in the same units.

Only the EMA weights are written (:func:`dicodec.codec.video.refiner_io.save_refiner`), fp16, with the
name of the image codec they belong to.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec.latent_codec import coding_scales
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.loop import Ema
from dicodec.codec.training.video_data import CameraMotion, render_clip
from dicodec.codec.training.video_train import VideoTrainConfig, image_codec, load_photos
from dicodec.codec.video import models
from dicodec.codec.video.clip import simulate_group_coding
from dicodec.codec.video.contextual import ContextualLatentCodec
from dicodec.codec.video.refine_flow import (
    DEFAULT_STEPS,
    DEFAULT_T_START,
    check_schedule,
    euler,
    path_targets,
    start_state,
)
from dicodec.codec.video.refiner import (
    VIDEO_DIT_PRESETS,
    ConditioningAdaptor,
    VideoDiT,
    VideoDiTConfig,
    init_from_image_dit,
)
from dicodec.codec.video.refiner_io import save_refiner

MODEL_CHOICES = ("auto", *VIDEO_DIT_PRESETS)


@dataclass(frozen=True)
class RefineTrainConfig:
    data: str  # folder of training photos (docs/data.md); never video-test material
    out: str  # the refiner's weights file
    codec: str = "tiny"  # a registered image codec (e.g. hp32-v7), or "tiny": a random tiny one (smoke runs)
    name: str = "vdit-dev"  # the refiner's name, written into its file
    model: str = "auto"  # video DiT preset; auto: vdit-tiny for the tiny codec, vdit-s otherwise
    init_dit: str = ""  # image DiT to start the spatial part from: a train_dit checkpoint or decoder file
    inter_model: str = ""  # contextual inter model file (video_train's output); "": the temporal mean
    steps: int = 1000
    batch: int = 4
    frames: int = 4  # per group: one intra, then inter frames
    crop: int = 256  # frame side; a multiple of 32
    lr: float = 1e-4
    t_start: float = DEFAULT_T_START  # GNVC-VD's tau_N (refine_flow's docstring: s0 = 1 - t_start)
    refine_steps: int = DEFAULT_STEPS  # Euler steps of the refined result in the latent-MSE term
    w_refine: float = 1.0  # lambda of the latent MSE of the refined result
    ema: float = 0.999
    grad_clip: float = 1.0
    norm_batches: int = 4  # batches of clean latents that set latent_mean/std (without --init-dit)
    max_photos: int = 0  # 0: all
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50
    fixed_batch: bool = False  # the same clips, noise and times every step: an overfitting check


def model_config(cfg: RefineTrainConfig, codec: ImageCodec) -> VideoDiTConfig:
    """The preset, with the codec's latent channels."""
    name = cfg.model if cfg.model != "auto" else ("vdit-tiny" if cfg.codec == "tiny" else "vdit-s")
    return replace(VIDEO_DIT_PRESETS[name], in_channels=codec.config.latent_channels)


def load_inter(path: str, codec_name: str, device: torch.device) -> ContextualLatentCodec | None:
    """The contextual inter model of file ``path`` (None for the temporal mean), checked against the codec."""
    if not path:
        return None
    name = models.register_file(path)
    entry = models.lookup(name)
    if entry.codec != codec_name:
        raise ValueError(f"inter model {name} was trained for {entry.codec}, not {codec_name}")
    return models.get(name, device)


def render_batch(
    photos: list[Tensor], cfg: RefineTrainConfig, levels: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """(clips (B, T, 3, crop, crop), continuous quality levels (B,)) on the CPU."""
    picks = torch.randint(len(photos), (cfg.batch,), generator=generator).tolist()
    motion = CameraMotion()
    clips = torch.stack([render_clip(photos[i], cfg.frames, cfg.crop, generator, motion) for i in picks])
    return clips, torch.rand(cfg.batch, generator=generator) * (levels - 1)


@torch.no_grad()
def coded_groups(
    codec: ImageCodec, inter: ContextualLatentCodec | None, clips: Tensor, level: Tensor
) -> dict[str, Tensor]:
    """Raw (synthesis-domain) latents of a batch of groups, each (B, T, M, h, w): ``clean`` (encoder),
    ``decoded`` (what the video decoder holds) and ``scales`` (the coding scale of every element)."""
    b, t = clips.shape[:2]
    gain, inverse_gain = codec.gains(level)
    y = codec.analysis(clips.flatten(0, 1)).unflatten(0, (b, t)) * gain.unsqueeze(1)
    y_hat, index = simulate_group_coding(codec, y, inter)
    ig = inverse_gain.unsqueeze(1)
    return {"clean": y * ig, "decoded": y_hat * ig, "scales": coding_scales(index) * ig}


@torch.no_grad()
def measure_latent_stats(
    codec: ImageCodec, photos: list[Tensor], cfg: RefineTrainConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of clean training latents (as ``train_dit`` measures them)."""
    device = codec.log_gain.device
    latents = []
    for _ in range(cfg.norm_batches):
        clips, level = render_batch(photos, cfg, codec.config.levels, generator)
        gain, inverse_gain = codec.gains(level.to(device))
        y = codec.analysis(clips.to(device).flatten(0, 1)) * gain.repeat_interleave(cfg.frames, 0)
        latents.append((y * inverse_gain.repeat_interleave(cfg.frames, 0)).transpose(0, 1).flatten(1))
    clean = torch.cat(latents, 1).double()
    return clean.mean(1).float(), clean.std(1).float()


def stage1_terms(
    refiner: VideoDiT,
    adaptor: ConditioningAdaptor,
    groups: dict[str, Tensor],
    cfg: RefineTrainConfig,
    generator: torch.Generator,
) -> dict[str, Tensor]:
    """Stage-I loss and its parts, in normalised units: ``fm`` (velocity loss), ``latent`` (MSE of the
    refined result), ``decoded`` (MSE of the decoded latents: what the refinement must beat)."""
    clean = refiner.normalize(groups["clean"])
    decoded = refiner.normalize(groups["decoded"])
    scales = refiner.normalize_scale(groups["scales"])
    noise = torch.randn(decoded.shape, device=decoded.device, generator=generator)
    control = adaptor(decoded, scales)  # the cues do not change along the path: once per group
    start = start_state(decoded, noise, cfg.t_start)
    x_s, s, v = path_targets(clean, start, cfg.t_start, generator)
    terms = {"fm": F.mse_loss(refiner(x_s, s, control).float(), v)}
    loss = terms["fm"]
    if cfg.w_refine > 0 and cfg.refine_steps > 0:
        refined = euler(lambda x, t: refiner(x, t, control), start, cfg.t_start, cfg.refine_steps)
        terms["latent"] = F.mse_loss(refined.float(), clean)
        loss = loss + cfg.w_refine * terms["latent"]
    terms["decoded"] = F.mse_loss(decoded, clean).detach()
    terms["loss"] = loss
    return terms


def main(cfg: RefineTrainConfig) -> dict:
    """Train; write the EMA refiner to ``cfg.out``. Returns the last logged values, the loss of every
    step (``history``), the file's sha256 and the seconds taken."""
    check_schedule(cfg.refine_steps, cfg.t_start)
    if cfg.t_start >= 1.0:
        raise ValueError("t_start must be below 1 to train (t_start = 1 is the identity)")
    device = torch.device(cfg.device)
    base = VideoTrainConfig(data=cfg.data, out=cfg.out, codec=cfg.codec, crop=cfg.crop,
                            max_photos=cfg.max_photos, seed=cfg.seed)  # fmt: skip
    codec, codec_name = image_codec(base, device)
    codec.requires_grad_(False)
    inter = load_inter(cfg.inter_model, codec_name, device)
    photos = load_photos(base)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # clips and levels (CPU, as video_train)
    flow_generator = torch.Generator(device=device).manual_seed(cfg.seed + 1)  # noise and times

    config = model_config(cfg, codec)
    refiner, adaptor = VideoDiT(config).to(device), ConditioningAdaptor(config).to(device)
    if cfg.init_dit:
        from dicodec.codec.training.train_dit import decoder_from_checkpoint

        copied = init_from_image_dit(refiner, decoder_from_checkpoint(cfg.init_dit, device=str(device)))
        print(f"spatial part from {cfg.init_dit}: {len(copied['copied'])} tensors", flush=True)
    else:
        refiner.set_latent_stats(*measure_latent_stats(codec, photos, cfg, generator))
    trained = nn.ModuleDict({"dit": refiner, "adaptor": adaptor})
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    ema = Ema(trained, cfg.ema)

    start, logged, history = time.perf_counter(), {}, []
    groups: dict[str, Tensor] | None = None
    trained.train()
    for step in range(1, cfg.steps + 1):
        if groups is None or not cfg.fixed_batch:
            clips, level = render_batch(photos, cfg, codec.config.levels, generator)
            groups = coded_groups(codec, inter, clips.to(device), level.to(device))
        if cfg.fixed_batch:
            flow_generator.manual_seed(cfg.seed + 1)
        terms = stage1_terms(refiner, adaptor, groups, cfg, flow_generator)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip or float("inf"))
        opt.step()
        ema.update(trained, step)
        history.append(float(terms["loss"].detach()))
        if step % cfg.log_every == 0 or step == cfg.steps:
            logged = {k: float(v.detach()) for k, v in terms.items()} | {"step": step}
            rate = step / (time.perf_counter() - start)
            parts = ", ".join(f"{k} {logged[k]:.4f}" for k in ("fm", "latent", "decoded") if k in logged)
            print(f"step {step}: loss {logged['loss']:.4f} ({parts}), {rate:.2f} steps/s", flush=True)
    released = copy.deepcopy(trained).cpu()
    released.load_state_dict({k: v.cpu() for k, v in ema.state.items()})
    extra = asdict(cfg) | {"steps_done": cfg.steps, "seconds": round(time.perf_counter() - start, 1)}
    sha = save_refiner(released["dit"], released["adaptor"], cfg.out, cfg.name, codec_name, extra=extra)
    return {**logged, "history": history, "sha256": sha, "seconds": time.perf_counter() - start}


def parse_args(argv: list[str] | None = None) -> RefineTrainConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    for name, field in RefineTrainConfig.__dataclass_fields__.items():
        flag = f"--{name.replace('_', '-')}"
        if field.default is dataclasses.MISSING:  # data, out
            parser.add_argument(flag, required=True)
        elif isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        elif name == "model":
            parser.add_argument(flag, choices=MODEL_CHOICES, default=field.default)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)
    return RefineTrainConfig(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    config = parse_args()
    result = main(config)
    print(f"wrote {Path(config.out)} (sha256 {result['sha256'][:16]}), {result['seconds']:.1f} s")
