"""Strip-wise synthesis of large tiles: the same pixels as one pass, with a bounded working set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.codec import model_store, registry, windowed_synthesis, zoo
from dicodec.codec.windowed_synthesis import HALO, MAX_STRIP_LATENTS, strip_rows, synthesize_in_strips

SAMPLE = Path(dicodec.__file__).parent / "samples" / "coffee.png"
# The default hp32-v7 ships without a DiT decoder; the last released pair (retired from the package in
# dicodec 0.8, the same networks) is what a real DiT decoder is checked with, once installed.
PAIR = ("hp32-v6", "dit-ic-s-v5")


def _installed_pair() -> str:
    missing = [n for n in PAIR if model_store.locate(zoo.models()[n]) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} ('dicodec models add FILE')")
    return PAIR[0]


@pytest.mark.parametrize("shape", [(34, 60), (64, 64), (128, 64), (128, 128), (65, 17), (200, 3)])
def test_strips_cover_every_row_once_and_respect_the_budget(shape):
    height, width = shape
    strips = strip_rows(height, width)
    rows = [r for top, stop in strips for r in range(top, stop)]
    assert rows == list(range(height))
    if height * width <= MAX_STRIP_LATENTS:
        assert strips == [(0, height)]  # 1920x1080 and smaller: one pass, no extra work
        return
    for top, stop in strips:
        assert stop - top >= min(windowed_synthesis.MIN_STRIP_ROWS, height - top)
        rows_read = min(stop + HALO, height) - max(top - HALO, 0)
        assert rows_read * width <= MAX_STRIP_LATENTS or stop - top == windowed_synthesis.MIN_STRIP_ROWS


def test_2048_square_is_two_strips():
    assert strip_rows(64, 64) == [(0, 32), (32, 64)]  # each pass reads 40 rows: 62% of the tile


@pytest.mark.slow  # loads the shipped codec, or the released hp32-v6 + dit-ic-s-v5 DiT decoder
@pytest.mark.parametrize("which", ["codec", "decoder"])
def test_strips_give_the_one_pass_pixels_with_the_shipped_weights(which, monkeypatch):
    """The halo covers the real receptive field (refinement blocks included), not just a toy one."""
    torch.manual_seed(0)
    if which == "codec":
        synthesis = registry.load(None, "cpu").synthesis
    else:
        synthesis = registry.load_generative(_installed_pair(), "cpu").synthesis
    latent = torch.randn(1, 320, 44, 6) * 2
    with torch.no_grad():
        whole = synthesis(latent)
        monkeypatch.setattr(windowed_synthesis, "MAX_STRIP_LATENTS", 20 * 6)
        assert len(strip_rows(44, 6)) >= 3
        strips = synthesize_in_strips(synthesis, latent)
    assert strips.shape == whole.shape
    assert (strips - whole).abs().max().item() < 1e-4


@pytest.mark.slow  # real weights: the default's fast decode, the released pair's generative one
@pytest.mark.parametrize("model", [None, PAIR[0]])
def test_decoded_file_is_the_same_in_strips(model, monkeypatch):
    modes = ("fast",) if model is None else ("fast", "generative")
    model = model and _installed_pair()
    image = np.asarray(Image.open(SAMPLE).convert("RGB"))
    data = dicodec.encode(image, quality=10, device="cpu", model=model)
    reference = {m: dicodec.decode(data, mode=m, device="cpu").astype(int) for m in modes}
    monkeypatch.setattr(windowed_synthesis, "MAX_STRIP_LATENTS", 100)  # 13 x 19 latent
    assert strip_rows(13, 19) == [(0, 8), (8, 13)]
    for mode, ref in reference.items():
        assert np.abs(dicodec.decode(data, mode=mode, device="cpu").astype(int) - ref).max() <= 1
