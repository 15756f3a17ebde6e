"""Generative decoder (shipped): coding scales, variance guidance, its two knobs, decoding, its files."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
import torch
from conftest import TINY_DIT as TINY
from conftest import sample_crop as image
from conftest import tiny_decoder

from dicodec.codec.generative_decoder import (
    GenerativeDecoder,
    decode_with_scales,
    generative_decode,
    step_scale,
)
from dicodec.codec.latent_codec import coding_scales
from dicodec.codec.model import quality_to_level
from dicodec.codec.weights_io import load_decoder_file, save_decoder
from dicodec.errors import WeightsMismatch

# ------------------------------------------------------------------ coding scales


class TestCodingScales:
    def test_decode_with_scales_matches_decoder_and_simulation(self, tiny_codec):
        x, q = image(), 40
        strings = tiny_codec.compress(x, q)
        y_hat, sigma = decode_with_scales(tiny_codec.latent_codec, strings, (4, 8), torch.device("cpu"))
        gain, inverse_gain = tiny_codec.gains(quality_to_level(q, tiny_codec.config.levels))
        decoded = tiny_codec.decompress_latent(strings, tuple(x.shape[-2:]), q)
        assert torch.equal(y_hat * inverse_gain, decoded)
        y_sim, index = tiny_codec.latent_codec.simulate_coding(tiny_codec.analysis(x) * gain)
        assert torch.equal(y_sim, y_hat) and torch.equal(coding_scales(index), sigma)
        assert sigma.shape == y_hat.shape and sigma.unique().numel() > 3 and (sigma > 0).all()

    def test_batched_simulation_equals_per_image_coding(self, tiny_codec):
        x = torch.cat([image(), image().flip(-1)])
        gain, _ = tiny_codec.gains(torch.tensor([0.3, 1.7]))
        y = tiny_codec.analysis(x) * gain
        y_hat, index = tiny_codec.latent_codec.simulate_coding(y)
        for i in range(2):
            strings = tiny_codec.latent_codec.compress(y[i : i + 1])
            decoded = tiny_codec.latent_codec.decompress(strings, (4, 8), torch.device("cpu"), True)
            assert torch.allclose(y_hat[i : i + 1], decoded[0], rtol=1e-6, atol=1e-6)
            assert torch.equal(index[i : i + 1], decoded[1])


# ------------------------------------------------------------------ one-step decoder


class TestVarianceGuidance:
    def test_step_scale_range(self):
        u = torch.linspace(-10, 10, 1001)
        m = step_scale(u, knee=2.0)
        assert m.min() == pytest.approx(0.4) and m.max() == 1.0
        assert ((m >= 0.4) & (m <= 1.0)).all()
        assert step_scale(torch.tensor([1.0]), knee=2.0).item() == pytest.approx(0.7)
        pos = m[u >= 0]
        assert (pos[1:] >= pos[:-1]).all()

    def test_uncertain_elements_move_more(self):
        decoder = tiny_decoder(latent_condition=False, rate_embed=False)
        decoder.dit.forward = lambda x, t, context=None, extra=None: torch.ones_like(x)  # v = 1 everywhere
        y = torch.randn(1, 32, 3, 3)
        u = torch.rand(1, 32, 3, 3) * 3 * decoder.latent_std.view(1, -1, 1, 1)
        step = (y - decoder(y, u)) / decoder.latent_std.view(1, -1, 1, 1)
        m = step_scale(u / decoder.latent_std.view(1, -1, 1, 1), TINY.knee)
        assert torch.allclose(step, TINY.t_s * m, atol=1e-6)
        flat_u, flat_s = u.flatten(), step.flatten()
        assert flat_s[flat_u.argmax()] > flat_s[flat_u.argmin()]
        none = GenerativeDecoder(replace(TINY, uncertainty="none"))
        assert none.rate_embed is None and none.logvar_head is None

    @pytest.mark.parametrize("mode", ["entropy", "learned", "none"])
    @pytest.mark.parametrize("hw", [(1, 1), (3, 5), (8, 8)])
    def test_shapes_and_zero_correction_is_identity(self, mode, hw):
        decoder = tiny_decoder(uncertainty=mode)
        y = torch.randn(2, 32, *hw) * 3
        u = torch.rand(2, 32, *hw)
        out = decoder(y, u)
        assert out.shape == y.shape and torch.isfinite(out).all() and not torch.equal(out, y)
        assert torch.equal(decoder(y, u, correction_scale=0.0), y)
        # the formula itself, too
        assert torch.equal(decoder(y, u, correction_scale=0.0, return_dict=True)["latent"], y)

    def test_correction_scale_scales_the_correction_linearly(self):
        decoder = tiny_decoder()
        y, u = torch.randn(1, 32, 4, 4), torch.rand(1, 32, 4, 4)
        full, half = decoder(y, u) - y, decoder(y, u, correction_scale=0.5) - y
        assert torch.allclose(half, 0.5 * full, atol=1e-5)
        with pytest.raises(ValueError):
            decoder(y, u, correction_scale=1.5)

    def test_realism_has_one_meaning(self):
        """``realism`` is the pixel blend of ``generative_decode`` (and ``dicodec decode --realism``)
        only; the decoder's latent knob has its own name (it was also called realism, and a training
        tool's --realism help described the one while passing the other)."""
        for method in (GenerativeDecoder.forward, GenerativeDecoder.refine):
            params = inspect.signature(method).parameters
            assert "realism" not in params and "correction_scale" in params
        assert "realism" in inspect.signature(generative_decode).parameters

    def test_without_latent_condition(self):
        decoder = tiny_decoder(latent_condition=False)
        assert decoder.condition is None and all(b.cross is None for b in decoder.dit.blocks)
        assert decoder(torch.randn(1, 32, 2, 3), None).shape == (1, 32, 2, 3)


# ------------------------------------------------------------------ decoding and files


class TestDecode:
    def test_generative_decode_on_tiny_codec(self, tiny_codec):
        x, q = image(), 60
        strings = tiny_codec.compress(x, q)
        decoder = tiny_decoder()
        pixels = generative_decode(tiny_codec, decoder, strings, (128, 256), q, realism=1.0)
        fast = tiny_codec.decompress(strings, (128, 256), q)
        assert pixels.shape == x.shape and torch.isfinite(pixels).all() and not torch.equal(pixels, fast)
        assert torch.equal(generative_decode(tiny_codec, decoder, strings, (128, 256), q, 0.0), fast)

    def test_own_synthesis_transform(self, tiny_codec):
        x, q = image(), 30
        strings = tiny_codec.compress(x, q)
        decoder = tiny_decoder(synthesis_channels=tiny_codec.config.channels)
        decoder.synthesis.load_state_dict(tiny_codec.synthesis.state_dict())  # as train_dit's init does
        fast = tiny_codec.decompress(strings, (128, 256), q)
        assert torch.equal(generative_decode(tiny_codec, decoder, strings, (128, 256), q, 0.0), fast)
        out = decoder(torch.randn(1, 32, 2, 2), torch.rand(1, 32, 2, 2), return_dict=True)
        assert out["pixels"].shape == (1, 3, 64, 64) and out["pixels"].dtype == torch.float32

    def test_save_and_load_round_trip(self, tmp_path):
        decoder = tiny_decoder(uncertainty="learned")
        decoder.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
        sha = save_decoder(decoder, tmp_path / "d.safetensors", "dit-ic-tiny-test-v1")
        loaded = load_decoder_file(tmp_path / "d.safetensors", expected_sha256=sha)
        assert torch.equal(loaded.latent_std, decoder.latent_std)  # statistics stay fp32
        y, u = torch.randn(1, 32, 2, 2), torch.rand(1, 32, 2, 2)
        assert torch.allclose(loaded(y, u), decoder(y, u), atol=0.05)
        with pytest.raises(WeightsMismatch):
            load_decoder_file(tmp_path / "d.safetensors", expected_sha256="0" * 64)
