"""Shared fixtures: a tiny in-memory codec (random weights, frozen) for fast tests of every code path."""

from __future__ import annotations

import pytest
import torch

from dicodec.codec import registry
from dicodec.codec.config import PRESETS
from dicodec.codec.model import ImageCodec


def make_tiny_codec(seed: int = 0) -> ImageCodec:
    torch.manual_seed(seed)
    model = ImageCodec(PRESETS["tiny"])
    with torch.no_grad():  # a spread of scales so several CDF tables are used
        for net in model.latent_codec.slice_nets:
            net[-1].conv.bias.uniform_(-1.0, 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_codec() -> ImageCodec:
    model = make_tiny_codec()
    model.update()
    return model


@pytest.fixture()
def tiny_model_name(tiny_codec):
    """Registers the tiny codec as ``tiny-test-v1`` for the duration of a test."""
    entry = registry.ModelEntry(name="tiny-test-v1", preset="tiny", weights=None, sha256="ab" * 32)
    registry.register_codec(entry, tiny_codec)
    yield entry.name
    registry.unregister_codec(entry.name)
