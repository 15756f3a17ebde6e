"""Stage-I training of the video refinement: the decoded latents it trains on, the loss falling, the CLI."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import sample_crop
from PIL import Image

from dicodec.codec.config import PRESETS
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder
from dicodec.codec.model import quality_to_level
from dicodec.codec.training.video_refine_train import RefineTrainConfig, main, parse_args
from dicodec.codec.video import clip, models
from dicodec.codec.video.contextual import ContextualLatentCodec
from dicodec.codec.video.refiner_io import load_refiner_file
from dicodec.codec.weights_io import save_decoder

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def photos(tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i, (h, w) in enumerate(((160, 200), (140, 180))):
        img = (sample_crop(h, w)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(img[:, ::-1] if i else img)).save(data / f"p{i}.png")
    return data


@pytest.mark.parametrize("contextual", [False, True])
def test_simulated_group_coding_gives_the_latents_the_clip_decoder_gives(
    contextual, tiny_model_name, tiny_codec
) -> None:
    """What training refines is exactly what decode_latents yields for a clip coded inter="always"."""
    # Four unrelated 64 px crops at quality 100: the random tiny codec's latents barely move under a
    # camera pan, and the inter frames must differ from the intra one for the check to mean something.
    img = (sample_crop(128, 256)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    frames = np.ascontiguousarray(
        np.stack([img[:64, :64], img[64:, 100:164], img[:64, 192:], img[32:96, 40:104][::-1]])
    )
    inter_name = None
    inter = None
    if contextual:
        torch.manual_seed(3)
        inter = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
        with torch.no_grad():
            for p in inter.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        inter.update()
        inter_name = models.register("ctx-refine-test", tiny_model_name, inter, "cd" * 32).name
    try:
        stream = io.BytesIO()
        clip.encode_clip(frames, stream, quality=100, gop=8, fps=30, device=CPU, model=tiny_model_name,
                         inter_model=inter_name, inter="always")  # fmt: skip
        _, decoded = clip.decode_latents(stream.getvalue(), device=CPU)
        expected = torch.stack([y for y, _ in decoded], 1)  # (1, T, M, h, w)
    finally:
        if inter_name:
            models.unregister(inter_name)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    gain, _ = tiny_codec.gains(quality_to_level(100, tiny_codec.config.levels))
    y = (tiny_codec.analysis(x) * gain).unsqueeze(0)
    y_hat, index = clip.simulate_group_coding(tiny_codec, y, inter)
    assert torch.equal(y_hat, expected)
    assert index.shape == y_hat.shape and index.dtype == torch.int32
    assert (y_hat[:, 1:] != y_hat[:, :1]).any()  # the inter frames are not copies of the intra one


def test_stage1_loss_goes_down_on_a_fixed_batch(photos, tmp_path) -> None:
    out = tmp_path / "vdit.safetensors"
    cfg = RefineTrainConfig(data=str(photos), out=str(out), codec="tiny", steps=30, batch=2, frames=3,
                            crop=64, lr=3e-3, log_every=10, fixed_batch=True, name="vdit-smoke")  # fmt: skip
    result = main(cfg)
    history = result["history"]
    assert len(history) == 30 and all(np.isfinite(history))
    assert history[-1] < 0.3 * history[0]  # measured: 431.6 -> 53.3
    assert np.mean(history[-5:]) < np.mean(history[:5])
    assert result["latent"] < result["decoded"]  # the refined group is nearer the clean one than y_hat
    loaded = load_refiner_file(out, expected_sha256=result["sha256"])
    assert (loaded.name, loaded.codec) == ("vdit-smoke", "tiny")
    assert loaded.refiner.config.in_channels == 32 and loaded.refiner.latent_std.min() > 0


def test_init_dit_starts_from_an_image_decoder_file(photos, tmp_path) -> None:
    torch.manual_seed(0)
    decoder = GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"])
    decoder.set_latent_stats(torch.randn(32) * 0.1, torch.rand(32) + 0.5)
    init = tmp_path / "decoder.safetensors"
    save_decoder(decoder, init, "dit-ic-tiny-test")
    out = tmp_path / "vdit.safetensors"
    cfg = RefineTrainConfig(data=str(photos), out=str(out), steps=2, batch=1, frames=2, crop=64,
                            init_dit=str(init), log_every=1)  # fmt: skip
    result = main(cfg)
    assert np.isfinite(result["loss"])
    loaded = load_refiner_file(out)
    assert torch.equal(loaded.refiner.latent_mean, decoder.latent_mean)  # the image DiT's units


def test_command_line() -> None:
    argv = ["--data", "d", "--out", "o.safetensors", "--codec", "hp32-v7", "--steps", "7", "--frames", "5",
            "--init-dit", "prior.pt", "--t-start", "0.6", "--fixed-batch"]  # fmt: skip
    cfg = parse_args(argv)
    assert (cfg.codec, cfg.steps, cfg.frames, cfg.init_dit, cfg.t_start) == ("hp32-v7", 7, 5, "prior.pt", 0.6)
    assert cfg.fixed_batch and cfg.model == "auto" and cfg.refine_steps == 5
    with pytest.raises(SystemExit):
        parse_args(["--data", "d", "--out", "o", "--model", "vdit-xl"])
