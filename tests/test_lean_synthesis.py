"""The decode-time synthesis: the plain forward's pixels, bit for bit."""

from __future__ import annotations

import pytest
import torch

import dicodec
from dicodec.codec import heap, registry
from dicodec.codec.lean_synthesis import lean_synthesis


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 12)])
def test_shipped_synthesis_bit_identical(shape):
    codec = registry.load(registry.get_entry(None).name, "cpu")
    torch.manual_seed(shape[0])
    latent = torch.randn(1, codec.config.latent_channels, *shape) * 3
    kept = latent.clone()
    with torch.no_grad():
        expected = codec.synthesis(latent)
    got = lean_synthesis(codec.synthesis, latent)
    assert torch.equal(got, expected)
    assert torch.equal(latent, kept)  # the in-place steps never touch the caller's latent
    assert got.is_contiguous()


def test_tiny_synthesis_without_refinement_bit_identical(tiny_codec):
    latent = torch.randn(2, tiny_codec.config.latent_channels, 3, 4)
    with torch.no_grad():
        assert torch.equal(lean_synthesis(tiny_codec.synthesis, latent), tiny_codec.synthesis(latent))


def test_decode_pixels_unchanged_by_lean_synthesis_and_heap(tiny_model_name, monkeypatch):
    """The decode path (lean synthesis, retained heap) against the plain forward, through the API."""
    image = (torch.rand(70, 90, 3) * 255).to(torch.uint8).numpy()
    data = dicodec.encode(image, quality=50, model=tiny_model_name, device="cpu")
    fast = dicodec.decode(data, mode="fast", device="cpu")
    monkeypatch.setattr("dicodec.codec.model.lean_synthesis", lambda transform, x: transform(x))
    monkeypatch.setattr(heap, "_GLIBC", None)
    plain = dicodec.decode(data, mode="fast", device="cpu")
    assert (fast == plain).all()
