"""The detail layer (``detail_channels``): shapes, the warm start that keeps a file's pixels, coding of the
two latents through one tile's strings, weights files, containers, and the paths that refuse it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dicodec.codec.config import PRESETS, CodecConfig
from dicodec.codec.detail_layer import PACK
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.warm_start import warm_start
from dicodec.codec.weights_io import load_codec_file, save_codec
from dicodec.errors import UnavailableError

TINY_D = PRESETS["tiny-detail"]


def _opened(model: ImageCodec, std: float = 0.05) -> ImageCodec:
    """Open the zero-initialised output layer of the synthesis branch, as training would."""
    with torch.no_grad():
        for p in model.synthesis.detail.body[-1].parameters():
            p.normal_(0, std)
    return model


def test_shapes_and_rate_terms():
    torch.manual_seed(0)
    model = ImageCodec(TINY_D)
    assert TINY_D.coded_channels == 32 + 8 * PACK**2 == 64  # config's count matches the packing
    assert TINY_D.strings_per_tile == 2 + 1 + 2
    x = torch.rand(2, 3, 128, 96)
    y = model.analysis(x)
    assert y.shape == (2, 64, 4, 3)
    assert model.synthesis(y).shape == (2, 3, 128, 96)
    out = model(x, torch.tensor([0.5, 1.5]))
    assert set(out["likelihoods"]) == {"y", "z", "y_detail", "z_detail"}
    assert out["likelihoods"]["y_detail"].shape == (2, 32, 4, 3)
    assert model.log_gain.shape == (3, 64)


def test_every_detail_parameter_gets_a_gradient_once_the_branch_is_open():
    torch.manual_seed(0)
    model = _opened(ImageCodec(TINY_D)).train()
    x = torch.rand(2, 3, 128, 128)
    out = model(x, torch.tensor([0.5, 1.5]))
    rate = sum(-lik.log2().mean() for lik in out["likelihoods"].values())
    (rate + 100 * (out["x_hat"] - x).pow(2).mean()).backward()
    for name, p in model.named_parameters():
        if ".detail." in name or name.startswith("detail_codec.slice_nets"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_warm_start_keeps_the_files_pixels_and_base_bytes(tmp_path):
    """From a file without the layer: the base latent and the pixels are the file's at step 0 (the
    synthesis branch starts at zero), and the base latent's strings are the file's strings."""
    torch.manual_seed(0)
    source = ImageCodec(PRESETS["tiny"]).eval()
    source.update()
    path = tmp_path / "tiny.safetensors"
    save_codec(source, path, "tiny-v1")
    control = ImageCodec(PRESETS["tiny"])
    warm_start(control, path)
    target = ImageCodec(TINY_D)
    counts = warm_start(target, path)
    assert counts["widened"] == 0 and counts["skipped"] > 0
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        y = target.analysis(x)
        assert torch.equal(y[:, :32], control.analysis(x))
        assert torch.equal(target.synthesis(y), control.synthesis(y[:, :32]))
    control.eval().update()
    target.eval().update()
    strings = target.compress(x, 60)
    assert strings[:3] == control.compress(x, 60)  # z and the two base slices
    assert len(strings) == 1 + TINY_D.strings_per_tile


def test_strings_decode_to_the_rounded_latent_of_both_layers():
    torch.manual_seed(0)
    model = _opened(ImageCodec(TINY_D)).eval()
    model.update()
    x = torch.rand(1, 3, 96, 128)
    strings = model.compress(x, 50)
    latent = model.decompress_latent(strings, (96, 128), 50)
    assert latent.shape == (1, 64, 3, 4)
    with torch.no_grad():  # what training's straight-through y_hat gives, up to the coded means' rounding
        gain, inverse_gain = model.gains(torch.tensor([1.0]))
        y_hat = model.code_latent(model.analysis(x) * gain, noisy_rate=False)["y_hat"]
    assert (latent - y_hat * inverse_gain).abs().max() < 1e-2
    with pytest.raises(ValueError, match="strings"):
        model.decompress_latent(strings[:-1], (96, 128), 50)


@pytest.fixture
def layered(tmp_path) -> tuple[ImageCodec, Path]:
    """An opened, updated ``tiny-detail`` codec and its weights file."""
    torch.manual_seed(0)
    model = _opened(ImageCodec(TINY_D)).eval()
    model.update()
    path = tmp_path / "tiny-detail.safetensors"
    save_codec(model, path, "tiny-detail-files-v1")
    return model, path


def test_weights_file_round_trip(layered):
    model, path = layered
    loaded = load_codec_file(path)
    assert loaded.config == TINY_D
    x = torch.rand(1, 3, 128, 128)
    strings = loaded.compress(x, 40)
    decoded = loaded.decompress(strings, (128, 128), 40)
    assert (decoded - model.decompress(strings, (128, 128), 40)).abs().max() < 2e-2


def test_config_json_of_older_files_has_no_detail_layer():
    new_fields = ("detail_channels", "detail_hyper_channels", "detail_slices", "detail_slice_hidden")
    old = {k: v for k, v in PRESETS["hp32d10"].to_dict().items() if k not in new_fields}
    assert CodecConfig(**old) == PRESETS["hp32d10"]
    assert CodecConfig(**old).strings_per_tile == 5
    config = CodecConfig(**json.loads(json.dumps(PRESETS["hp32x"].to_dict())))
    assert next(k for k, v in PRESETS.items() if v == config) == "hp32x"
    assert config.coded_channels == 320 + 768 and config.strings_per_tile == 5 + 1 + 6


def test_generative_decode_and_video_refuse_the_layer():
    from dicodec.codec.generative_decoder import generative_decode
    from dicodec.codec.video.clip import _Scheme

    model = ImageCodec(TINY_D).eval()
    with pytest.raises(UnavailableError, match="detail layer"):
        generative_decode(model, None, [], (128, 128), 50)
    with pytest.raises(UnavailableError, match="detail layer"):
        _Scheme(model, 50, None, torch.device("cpu"))


def test_refinement_scores_both_layers_and_never_gets_worse():
    import functools

    from dicodec.codec.latent_refinement import _TWINS, rd_objective, refine_latent

    torch.manual_seed(0)
    model = _opened(ImageCodec(TINY_D)).eval()
    model.update()
    x = torch.rand(1, 3, 128, 128)
    level = torch.tensor([1.0])
    gain, inverse_gain = model.gains(level)
    lam = model.lambda_at(level)
    with torch.no_grad():
        y = model.analysis(x) * gain
    refined = refine_latent(model, x, y, inverse_gain, lam, steps=5)
    assert len(_TWINS[model]) == 2  # a float twin per entropy model
    code = functools.partial(model.code_latent, codecs=_TWINS[model])
    with torch.no_grad():
        terms = code(y, noisy_rate=False)["likelihoods"]
        before = rd_objective(code, model.synthesis, y, x, inverse_gain, lam, noisy=False)
        after = rd_objective(code, model.synthesis, refined, x, inverse_gain, lam, noisy=False)
    assert refined.shape == y.shape and after <= before
    assert set(terms) == {"y", "z", "y_detail", "z_detail"}  # the detail layer's bits are counted


def test_files_of_a_layered_model_round_trip_through_the_container(layered):
    import numpy as np

    import dicodec
    from dicodec.codec import registry

    name = registry.register_files(layered[1])
    try:
        image = (np.random.default_rng(0).random((80, 100, 3)) * 255).astype(np.uint8)
        data = dicodec.encode(image, quality=50, model=name, device="cpu")
        assert dicodec.inspect(data)["num_slices"] == TINY_D.strings_per_tile
        assert dicodec.decode(data, device="cpu").shape == image.shape
        with pytest.raises(dicodec.DicodecError, match="not available"):
            dicodec.decode(data, mode="generative", device="cpu")
    finally:
        registry.unregister_codec(name)


def test_the_detail_rate_ramp_weighs_only_the_detail_bits():
    from dicodec.codec.training.train import TRAIN_PRESETS, rd_loss

    torch.manual_seed(0)
    model = ImageCodec(TINY_D)
    cfg = TRAIN_PRESETS["tiny"]
    x, level = torch.rand(2, 3, 128, 128), torch.tensor([0.5, 1.5])
    out = model(x, level, noisy_rate=False)
    full = rd_loss(model, out, x, level, cfg)
    none = rd_loss(model, out, x, level, cfg, torch.zeros(()))
    half = rd_loss(model, out, x, level, cfg, torch.full((), 0.5))
    detail_bpp = sum(
        (-torch.log2(out["likelihoods"][k])).flatten(1).sum(1).mean() for k in ("y_detail", "z_detail")
    ) / (128 * 128)
    assert torch.allclose(full["loss"] - none["loss"], detail_bpp, atol=1e-4)
    assert torch.allclose(full["loss"] - half["loss"], detail_bpp / 2, atol=1e-4)
    assert full["bpp"] == none["bpp"]  # the logged rate is the whole rate
    assert torch.allclose(half["detail_bpp"], detail_bpp)
    assert TRAIN_PRESETS["hp32x"].detail_rate_ramp_steps > 0


def test_detail_usage_script_sees_a_closed_and_an_open_layer(tmp_path):
    from click.testing import CliRunner
    from conftest import load_script

    script = load_script("detail_usage")
    torch.manual_seed(0)
    model = ImageCodec(TINY_D).eval()
    images = [torch.rand(1, 3, 128, 96)]
    closed = script.detail_usage(model, images, [0.0, 2.0])
    assert [r["level"] for r in closed] == [0.0, 2.0]
    assert all(r["psnr_with"] == r["psnr_without"] for r in closed)  # zero-initialised output layer
    opened = script.detail_usage(_opened(model, std=0.5), images, [2.0])
    assert opened[0]["psnr_with"] != opened[0]["psnr_without"]
    assert opened[0]["detail_nonzero_share"] >= 0 and opened[0]["detail_mean_abs"] > 0
    save_codec(ImageCodec(PRESETS["tiny"]).eval(), tmp_path / "plain.safetensors", "plain")
    (tmp_path / "images").mkdir()
    result = CliRunner().invoke(script.main, [str(tmp_path / "plain.safetensors"), str(tmp_path / "images")])
    assert result.exit_code != 0 and "no detail layer" in result.output


@pytest.mark.slow
def test_compiled_step_with_a_detail_layer_has_no_graph_break():
    import torch._dynamo

    from dicodec.codec.training.train import TRAIN_PRESETS, rd_loss

    model = _opened(ImageCodec(TINY_D))
    cfg = TRAIN_PRESETS["tiny"]
    x, level, weight = torch.rand(2, 3, 128, 128), torch.tensor([0.3, 1.7]), torch.full((), 0.25)

    def step(x, level, weight):
        return rd_loss(model, model(x, level), x, level, cfg, weight)

    explained = torch._dynamo.explain(step)(x, level, weight)
    assert explained.graph_break_count == 0, explained.break_reasons
