"""Training of the contextual inter model: synthesised clips and a CPU smoke run of the loop."""

from __future__ import annotations

import numpy as np
import torch
from conftest import SAMPLE, sample_crop
from PIL import Image

from dicodec.codec.training.video_data import CameraMotion, read_photo, render_clip, render_clip_uint8
from dicodec.codec.training.video_train import VideoTrainConfig, main
from dicodec.codec.video import models


class TestRenderClip:
    def test_still_camera_gives_still_frames(self) -> None:
        photo = sample_crop(128, 192)[0]
        still = CameraMotion(pan_px=0, zoom=0, rotation_deg=0, exposure=0)
        clip = render_clip(photo, 4, 64, torch.Generator().manual_seed(0), still)
        assert clip.shape == (4, 3, 64, 64)
        assert torch.equal(clip[0], clip[3])

    def test_motion_is_smooth_and_reproducible(self) -> None:
        photo = sample_crop(256, 384)[0]
        a = render_clip(photo, 6, 64, torch.Generator().manual_seed(3))
        b = render_clip(photo, 6, 64, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)
        steps = (a[1:] - a[:-1]).abs().mean(dim=(1, 2, 3))
        assert steps.max() < 0.08 and steps.min() > 0  # moving, by small steps
        assert 0 <= float(a.min()) and float(a.max()) <= 1

    def test_uint8_frames_are_the_rounded_clip_of_the_read_photo(self) -> None:
        photo = read_photo(str(SAMPLE))
        assert photo.shape == (3, 400, 600) and photo.dtype == torch.float32 and float(photo.max()) <= 1
        frames = render_clip_uint8(photo, 3, 64, seed=5)
        clip = render_clip(photo, 3, 64, torch.Generator().manual_seed(5))
        assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
        error = np.abs(frames.astype(np.float32) / 255 - clip.permute(0, 2, 3, 1).numpy())
        assert error.max() <= 0.5 / 255 + 1e-6  # rounded to the nearest level


def test_training_smoke_run_writes_a_usable_inter_model(tmp_path) -> None:
    data = tmp_path / "photos"
    data.mkdir()
    for i, (h, w) in enumerate(((160, 200), (140, 180))):
        img = (sample_crop(h, w)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(img[:, ::-1] if i else img)).save(data / f"p{i}.png")
    out = tmp_path / "ctx.safetensors"
    cfg = VideoTrainConfig(
        data=str(data), out=str(out), steps=2, batch=2, frames=3, crop=64, context_hidden=8, log_every=1,
        name="ctx-smoke",
    )  # fmt: skip
    result = main(cfg)
    assert np.isfinite(result["loss"]) and result["bpp"] > 0 and result["step"] == 2
    name = models.register_file(out)
    try:
        entry = models.lookup(name)
        assert (entry.name, entry.codec) == ("ctx-smoke", "tiny")
        torch.manual_seed(0)
        ctx = torch.round(torch.randn(1, 32, 2, 2) * 512) / 256
        strings, y_hat = entry.module.compress(ctx + torch.randn_like(ctx), ctx)
        assert torch.equal(entry.module.decompress(strings, ctx), y_hat)
    finally:
        models.unregister(name)


def test_max_minutes_stops_after_the_step_that_ran_out_of_time(tmp_path) -> None:
    data = tmp_path / "photos"
    data.mkdir()
    img = (sample_crop(96, 96)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(img).save(data / "p.png")
    cfg = VideoTrainConfig(
        data=str(data), out=str(tmp_path / "ctx.safetensors"), steps=50, batch=1, frames=2, crop=64,
        context_hidden=8, log_every=100, max_minutes=1e-9,
    )  # fmt: skip
    result = main(cfg)
    assert result["step"] == 1 and np.isfinite(result["loss"])
