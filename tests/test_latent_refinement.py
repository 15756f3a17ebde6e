"""Encoder-side latent refinement: never worse than the analysis' latent, deterministic, ordinary files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_tiny_codec

import dicodec
from dicodec.cli.main import cli
from dicodec.codec.latent_refinement import float_latent_codec, rd_objective, refine_latent
from dicodec.codec.model import quality_to_level


@pytest.fixture(scope="module")
def codec():
    model = make_tiny_codec(seed=3)
    model.update()
    return model


def _photo_like(h: int = 96, w: int = 128) -> np.ndarray:
    """Smooth gradients plus texture: something the latent can be fitted to."""
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], -1) * 200 + 20
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _setup(codec, quality: int = 60):
    x = torch.from_numpy(_photo_like()).permute(2, 0, 1)[None].float() / 255
    level = quality_to_level(quality, codec.config.levels).reshape(1)
    gain, inverse_gain = codec.gains(level)
    with torch.no_grad():
        y = codec.analysis(x) * gain
    return x, y, inverse_gain, codec.lambda_at(level)


def test_the_refined_latent_scores_no_worse_than_the_analysis_latent(codec, one_torch_thread):
    x, y, inverse_gain, lam = _setup(codec)
    refined = refine_latent(codec, x, y, inverse_gain, lam, steps=8)
    twin = float_latent_codec(codec.latent_codec)
    with torch.no_grad():
        before = rd_objective(twin, codec.synthesis, y, x, inverse_gain, lam, noisy=False).item()
        after = rd_objective(twin, codec.synthesis, refined, x, inverse_gain, lam, noisy=False).item()
    assert after <= before
    assert refined.shape == y.shape and not refined.requires_grad
    assert not any(key.startswith("_") for key in codec.state_dict())  # the twin is not part of the model


def test_zero_steps_keep_the_latent_and_the_global_generator_is_untouched(codec, one_torch_thread):
    x, y, inverse_gain, lam = _setup(codec)
    assert torch.equal(refine_latent(codec, x, y, inverse_gain, lam, steps=0), y)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    refine_latent(codec, x, y, inverse_gain, lam, steps=2)
    assert torch.equal(torch.rand(3), expected)


def test_encode_with_refinement_is_deterministic_and_decodes_as_any_file(tiny_model_name, one_torch_thread):
    image = _photo_like()
    plain = dicodec.encode(image, 60, model=tiny_model_name, device="cpu")
    refined = dicodec.encode(image, 60, model=tiny_model_name, device="cpu", refine_steps=4)
    assert refined == dicodec.encode(image, 60, model=tiny_model_name, device="cpu", refine_steps=4)
    assert dicodec.inspect(refined)["model"] == dicodec.inspect(plain)["model"]
    decoded = dicodec.decode(refined, mode="fast", device="cpu")
    assert decoded.shape == image.shape
    with pytest.raises(dicodec.DicodecError, match="refine_steps must be an integer from 0 to 1000"):
        dicodec.encode(image, 60, model=tiny_model_name, device="cpu", refine_steps=-1)


def test_cli_refine_steps(tiny_model_name, tmp_path, one_torch_thread):
    from PIL import Image

    src = tmp_path / "a.png"
    Image.fromarray(_photo_like()).save(src)
    out = tmp_path / "a.dic"
    args = ["encode", str(src), "-o", str(out), "--model", tiny_model_name, "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--refine-steps", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == dicodec.encode(
        _photo_like(), 75, model=tiny_model_name, device="cpu", refine_steps=3
    )
    bad = CliRunner().invoke(cli, [*args, "--refine-steps", "-1", "-f"])
    assert bad.exit_code == 2 and "--refine-steps" in bad.output
