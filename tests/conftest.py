"""Shared fixtures: a tiny in-memory codec (random weights, frozen) for fast tests of every code path."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from types import ModuleType

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


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """Import ``scripts/NAME.py`` (not a package module) so its functions and click command can be tested."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def generative_model(tiny_codec):
    """The tiny codec with a random tiny DiT decoder, registered as ``tiny-gen-v1`` for one test."""
    from dicodec.codec.generative import GENERATIVE_PRESETS, GenerativeDecoder

    torch.manual_seed(0)
    decoder = GenerativeDecoder(replace(GENERATIVE_PRESETS["dit-ic-tiny"]))
    with torch.no_grad():  # move the zero-initialised output layers so the correction is not zero
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    entry = registry.ModelEntry(
        name="tiny-gen-v1", preset="tiny", weights=None, sha256="cd" * 32, decode_modes=("fast", "generative")
    )
    registry.register_codec(entry, tiny_codec, generative=decoder.eval())
    yield entry.name
    registry.unregister_codec(entry.name)
