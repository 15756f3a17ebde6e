"""Train the contextual inter-frame model on clips synthesised from photos.

    python -m dicodec.codec.training.video_train --data PHOTOS --out ctx.safetensors [--codec hp32-v7]

The image codec is frozen: intra frames are coded exactly as images (its released weights), and only
the :class:`~dicodec.codec.video.contextual.ContextualLatentCodec` learns. Each step renders a batch of
short clips (:func:`~dicodec.codec.training.video_data.render_clip`: pan, zoom, rotation, sub-pixel
shifts and exposure drift over a training photo), codes frame 0 intra with the image codec's exact
integer path, then each later frame with the contextual model given the previous decoded latent, and
minimises ``bpp + lambda * 255^2 * MSE`` of the frames after the first at a random quality level per
clip (the image codec's own lambda ladder, so inter frames aim at the same trade-off as intra ones).

The context fed to frame ``t+1`` is frame ``t``'s straight-through ``y_hat``, detached: training sees
the chain the decoder runs, while the memory stays one frame's graph whatever the clip length.
Only the EMA weights are written, ``update()``-d, with the name of the image codec they belong to
(:func:`dicodec.codec.video.models.save`); :func:`dicodec.codec.video.models.register_file` makes
``dicodec.encode_video(..., inter_model=NAME)`` use them.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from dicodec.codec import registry
from dicodec.codec.config import PRESETS
from dicodec.codec.latent_refinement import float_latent_codec
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.codec.training.video_data import CameraMotion, render_clip
from dicodec.codec.video import models
from dicodec.codec.video.contextual import ContextualLatentCodec, warm_start_from_image


@dataclass(frozen=True)
class VideoTrainConfig:
    data: str  # folder of training photos (docs/data.md); never video-test material
    out: str  # the inter model's weights file
    codec: str = "tiny"  # a registered image codec (e.g. hp32-v7), or "tiny": a random tiny one (smoke runs)
    name: str = "ctx-dev"  # the inter model's name, written into the files it codes
    steps: int = 1000
    batch: int = 4
    frames: int = 3  # per clip: one intra, then inter frames
    crop: int = 256  # frame side; a multiple of 32
    lr: float = 1e-4
    context_hidden: int = 64  # width of the context network and the contextual transforms
    ema: float = 0.999
    max_photos: int = 0  # 0: all
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50
    max_minutes: float = 0.0  # stop (and write the EMA weights) after this long; 0: run all steps


def load_photos(cfg: VideoTrainConfig) -> list[torch.Tensor]:
    """The photos as float (3, H, W), downscaled to a shorter side of 2 crops (the camera's room)."""
    files = list_images(cfg.data)[: cfg.max_photos or None]
    photos = []
    for path in files:
        x = torch.from_numpy(load_rgb(path)).permute(2, 0, 1).float() / 255
        scale = 2 * cfg.crop / min(x.shape[-2:])
        if scale < 1:
            x = F.interpolate(x[None], scale_factor=scale, mode="bilinear", antialias=True)[0]
        if min(x.shape[-2:]) >= cfg.crop:
            photos.append(x.clamp(0, 1))
    if not photos:
        raise ValueError(f"no photo under {cfg.data} has a side of {cfg.crop} pixels")
    return photos


def image_codec(cfg: VideoTrainConfig, device: torch.device) -> tuple[ImageCodec, str]:
    if cfg.codec == "tiny":
        torch.manual_seed(cfg.seed)
        codec = ImageCodec(PRESETS["tiny"])
        codec.update()
        return codec.to(device).eval(), "tiny"
    return registry.load(cfg.codec, device).eval(), registry.get_entry(cfg.codec).name


def clip_loss(
    model: ContextualLatentCodec, codec: ImageCodec, clips: torch.Tensor, level: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Rate and distortion of frames 1.. of ``clips`` (B, T, 3, H, W), frame 0 coded intra."""
    b, t = clips.shape[:2]
    gain, inverse_gain = codec.gains(level)
    with torch.no_grad():
        y = codec.analysis(clips.flatten(0, 1)).unflatten(0, (b, t)) * gain.unsqueeze(1)
        ctx, _ = codec.latent_codec.simulate_coding(y[:, 0].contiguous())
    pixels = clips.shape[-2] * clips.shape[-1]
    bpp = mse = clips.new_zeros(())
    for k in range(1, t):
        out = model(y[:, k], ctx)
        bits = sum(-torch.log2(v).flatten(1).sum(1) for v in out["likelihoods"].values())
        x_hat = codec.synthesis(out["y_hat"] * inverse_gain)
        err = (x_hat - clips[:, k]).pow(2).flatten(1).mean(1)
        bpp = bpp + bits / pixels
        mse = mse + err
        ctx = out["y_hat"].detach()
    lam = codec.lambda_at(level.to(clips.device))
    loss = (bpp + lam * 255**2 * mse).mean() / (t - 1)
    return {"loss": loss, "bpp": bpp.mean() / (t - 1), "mse": mse.mean() / (t - 1)}


def main(cfg: VideoTrainConfig) -> dict:
    """Train, write the EMA model to ``cfg.out``; returns the last logged values and the file's sha256."""
    device = torch.device(cfg.device)
    codec, codec_name = image_codec(cfg, device)
    for p in codec.parameters():
        p.requires_grad_(False)
    photos = load_photos(cfg)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = ContextualLatentCodec(codec.config, cfg.context_hidden).to(device)
    # released files hold only the integer weights: their float copies come back from them (thaw)
    warm_start_from_image(model, float_latent_codec(codec.latent_codec))
    ema = copy.deepcopy(model).eval()
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    motion = CameraMotion()
    start, logged = time.perf_counter(), {}
    for step in range(1, cfg.steps + 1):
        picks = torch.randint(len(photos), (cfg.batch,), generator=generator).tolist()
        clips = torch.stack([render_clip(photos[i], cfg.frames, cfg.crop, generator, motion) for i in picks])
        level = torch.rand(cfg.batch, generator=generator) * (codec.config.levels - 1)
        out = clip_loss(model, codec, clips.to(device), level.to(device))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux_opt.zero_grad(set_to_none=True)
        model.aux_loss().backward()
        aux_opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - cfg.ema)
        out_of_time = bool(cfg.max_minutes) and time.perf_counter() - start > 60 * cfg.max_minutes
        if step % cfg.log_every == 0 or step == cfg.steps or out_of_time:
            logged = {k: v.item() for k, v in out.items()} | {"step": step}
            rate = step / (time.perf_counter() - start)
            print(f"step {step}: loss {logged['loss']:.4f}, inter bpp {logged['bpp']:.4f}, "
                  f"mse {logged['mse']:.5f}, {rate:.2f} steps/s", flush=True)  # fmt: skip
        if out_of_time:
            print(f"stopped at step {step}: --max-minutes {cfg.max_minutes} reached", flush=True)
            break
    ema.update()
    sha = models.save(ema.cpu(), cfg.out, cfg.name, codec_name, extra=asdict(cfg))
    return {**logged, "sha256": sha, "seconds": time.perf_counter() - start}


def parse_args(argv: list[str] | None = None) -> VideoTrainConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    for name, field in VideoTrainConfig.__dataclass_fields__.items():
        required = field.default is dataclasses.MISSING  # data, out
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=type(field.default) if not required else str,
            required=required, default=None if required else field.default,
        )  # fmt: skip
    return VideoTrainConfig(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    config = parse_args()
    result = main(config)
    print(f"wrote {Path(config.out)} (sha256 {result['sha256'][:16]}), {result['seconds']:.1f} s")
