"""The codec model: training pass, freezing, tile compress/decompress, weights files."""

from __future__ import annotations

import random

import pytest
import torch

from dicodec.codec.config import PRESETS
from dicodec.codec.fixed_point import WEIGHT_BITS
from dicodec.codec.latent_codec import SCALE_LEVELS, scale_index_exact
from dicodec.codec.model import ImageCodec
from dicodec.codec.weights_io import _exact_float_keys, load_codec_file, save_codec
from dicodec.errors import ModelError, WeightsMismatch


class TestForward:
    def test_shapes_and_likelihoods(self):
        model = ImageCodec(PRESETS["tiny"])
        x = torch.rand(2, 3, 128, 256)
        out = model(x, torch.tensor([0.0, 2.0]))
        assert out["x_hat"].shape == x.shape
        assert out["likelihoods"]["y"].shape == (2, 32, 4, 8)
        assert out["likelihoods"]["z"].shape == (2, 16, 1, 2)
        for lik in out["likelihoods"].values():
            assert (lik > 0).all() and (lik <= 1).all()

    def test_gradients_reach_every_trained_part(self):
        model = ImageCodec(PRESETS["tiny"])
        out = model(torch.rand(1, 3, 128, 128), torch.tensor([1.3]))
        loss = out["x_hat"].mean() + sum(-lik.log2().sum() for lik in out["likelihoods"].values())
        loss.backward()
        for name in (
            "analysis.0.weight",
            "synthesis.0.weight",
            "log_gain",
            "latent_codec.slice_nets.1.0.conv.weight",
            "latent_codec.hyper_synthesis.0.conv.bias",
            "latent_codec.hyper_synthesis.3.conv.weight",
        ):
            assert model.get_parameter(name).grad.abs().sum() > 0, name

    def test_scale_index_is_integer_arithmetic(self):
        ls = torch.tensor([-1e6, -640.0, -625.0, -623.0, 0.0, 1e6], dtype=torch.float64)
        assert scale_index_exact(ls).tolist() == [0, 0, 0, 1, 20, SCALE_LEVELS - 1]


class TestTileCoding:
    def test_decoded_latent_matches_encoder_and_is_deterministic(self, tiny_codec):
        x = torch.rand(1, 3, 256, 384)
        strings = tiny_codec.compress(x, 60)
        assert strings == tiny_codec.compress(x, 60)
        a = tiny_codec.decompress_latent(strings, (256, 384), 60)
        b = tiny_codec.decompress_latent(strings, (256, 384), 60)
        assert torch.equal(a, b)
        pixels = tiny_codec.decompress(strings, (256, 384), 60)
        assert pixels.shape == x.shape and pixels.min() >= 0 and pixels.max() <= 1

    def test_garbage_strings_never_crash(self, tiny_codec):
        rng = random.Random(0)
        x = torch.rand(1, 3, 128, 128)
        strings = tiny_codec.compress(x, 50)
        for _ in range(200):
            bad = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))) for _ in strings]
            try:
                out = tiny_codec.decompress(bad, (128, 128), 50)
                assert torch.isfinite(out).all()
            except ValueError:
                pass  # the pipeline turns this into dicodec.Corrupt

    def test_tile_shape_is_checked(self, tiny_codec):
        with pytest.raises(ValueError):
            tiny_codec.compress(torch.rand(1, 3, 100, 128), 50)


class TestWeightsFile:
    def test_round_trip_hash_and_errors(self, tiny_codec, tmp_path):
        path = tmp_path / "tiny.safetensors"
        sha = save_codec(tiny_codec, path, "tiny-test-v1")
        loaded = load_codec_file(path, expected_sha256=sha)
        x = torch.rand(1, 3, 128, 256)
        strings = tiny_codec.compress(x, 40)
        cpu = torch.device("cpu")  # the entropy-decoded latent is exact; gains are stored as fp16
        assert torch.equal(
            loaded.latent_codec.decompress(strings, (4, 8), cpu),
            tiny_codec.latent_codec.decompress(strings, (4, 8), cpu),
        )
        with pytest.raises(WeightsMismatch):
            load_codec_file(path, expected_sha256="0" * 64)
        with pytest.raises(ModelError):
            load_codec_file(tmp_path / "missing.safetensors")
        path.write_bytes(b"not a safetensors file")
        with pytest.raises(ModelError):
            load_codec_file(path)

    def test_loaded_model_owns_its_tensors_and_is_initialised(self, tiny_codec, tmp_path):
        """Loading builds without random init and adopts the file's tensors (weights_io.no_init,
        load_fp32_state): nothing may alias the memory-mapped file, and nothing may be left unset."""
        path = tmp_path / "tiny.safetensors"
        save_codec(tiny_codec, path, "tiny-test-v1")
        loaded = load_codec_file(path)
        before = {k: v.clone() for k, v in loaded.state_dict().items()}
        path.write_bytes(bytes(path.stat().st_size))  # rewritten in place, same size
        unset = _exact_float_keys(loaded)  # not in the file: left uninitialised until thaw()
        for key, value in loaded.state_dict().items():
            if key in unset:
                continue
            assert torch.equal(value, before[key]), key
            if value.is_floating_point():
                assert value.dtype == torch.float32 and torch.isfinite(value).all(), key
        layer = loaded.latent_codec.slice_nets[0][0]
        layer.thaw()
        assert torch.equal(layer.conv.weight, layer.weight_int.float() / 2**WEIGHT_BITS)

    def test_no_init_is_undone(self):
        from dicodec.codec.weights_io import no_init

        original = torch.nn.init.kaiming_uniform_
        with no_init():
            assert torch.nn.init.kaiming_uniform_ is not original
        assert torch.nn.init.kaiming_uniform_ is original
        torch.manual_seed(0)
        a = ImageCodec(PRESETS["tiny"]).analysis[0].weight
        torch.manual_seed(0)
        assert torch.equal(a, ImageCodec(PRESETS["tiny"]).analysis[0].weight)

    def test_file_tensors_go_to_the_device_first(self, tiny_codec, tmp_path):
        """The GPU path (weights widened on the device), run on the meta device, which needs no GPU."""
        path = tmp_path / "tiny.safetensors"
        save_codec(tiny_codec, path, "tiny-test-v1")
        loaded = load_codec_file(path, device="meta")
        assert loaded.synthesis[0].weight.device.type == "meta"
        assert loaded.synthesis[0].weight.dtype == torch.float32
        assert loaded.latent_codec.slice_nets[0][0].weight_int.device.type == "meta"
