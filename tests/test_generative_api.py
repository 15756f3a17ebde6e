"""``dicodec.decode(mode="generative")`` end to end with a tiny in-memory codec and DiT decoder.

These tests use random tiny modules: they check the plumbing (registry, tiling, realism), not image
quality; ``test_shipped_generative.py`` covers the shipped weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import dicodec
from dicodec.codec import registry
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder


def test_generative_decode_with_tiles_and_realism(generative_model):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    data = dicodec.encode(img, quality=50, model=generative_model, device="cpu", tile_size=128)
    fast = dicodec.decode(data, mode="fast", device="cpu")
    gen0 = dicodec.decode(data, mode="generative", realism=0.0, device="cpu")
    gen1 = dicodec.decode(data, mode="generative", realism=1.0, device="cpu")
    assert fast.shape == gen0.shape == gen1.shape == img.shape
    assert np.array_equal(fast, gen0)  # realism 0 keeps the decoded latent: the fast decode
    assert not np.array_equal(fast, gen1)


def test_generative_decode_of_a_2_0_file_with_odd_latent_sizes(tiny_codec):
    """Bitstream 2.0 pads to 32 px only: latents of 7x10 are not whole hyper-latents (4x4)."""
    torch.manual_seed(1)
    decoder = GenerativeDecoder(replace(GENERATIVE_PRESETS["dit-ic-tiny"]))
    entry = registry.ModelEntry(
        name="tiny-gen2-v1", preset="tiny", weights=None, sha256="ab" * 32,
        decode_modes=("fast", "generative"), bitstream_version="2.0",
    )  # fmt: skip
    registry.register_codec(entry, tiny_codec, generative=decoder.eval())
    try:
        img = np.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=np.uint8)
        data = dicodec.encode(img, quality=40, model=entry.name, device="cpu", tile_size=256)
        info = dicodec.inspect(data)
        assert info["version"] == "2.0" and info["num_tiles"] == 2
        assert dicodec.decode(data, mode="fast", device="cpu").shape == img.shape
        assert dicodec.decode(data, mode="generative", device="cpu").shape == img.shape
    finally:
        registry.unregister_codec(entry.name)


def test_realism_is_validated(generative_model):
    data = dicodec.encode(np.zeros((64, 64, 3), np.uint8), quality=10, model=generative_model, device="cpu")
    for bad in (-0.1, 1.5, "1", True):
        with pytest.raises(dicodec.DicodecError, match="realism"):
            dicodec.decode(data, mode="generative", realism=bad, device="cpu")


def test_codec_without_decoder_weights_says_so(tiny_codec):
    entry = registry.ModelEntry(
        name="tiny-nogen-v1",
        preset="tiny",
        weights=None,
        sha256="ef" * 32,
        decode_modes=("fast", "generative"),
    )
    registry.register_codec(entry, tiny_codec)
    try:
        data = dicodec.encode(np.zeros((64, 64, 3), np.uint8), quality=10, model=entry.name, device="cpu")
        with pytest.raises(dicodec.UnavailableError, match="generative decoder"):
            dicodec.decode(data, mode="generative", device="cpu")
    finally:
        registry.unregister_codec(entry.name)
