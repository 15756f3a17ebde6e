"""The generative decoder on a real photo, and what the default model's files decode with.

The plumbing is covered with tiny random modules in ``test_generative_api.py``; these tests load the
real, hash-checked weights and check what a user gets. The default codec ``hp32-v7`` ships with the
DiT decoder ``dit-ic-s-v6``: a deterministic decode that differs from the fast one and restores texture
the fast decode smooths away at low rates (here on the bundled sample at quality 0, ~0.02 bpp: the
very low rates it is for). ``mode="auto"`` uses it up to quality 40, where it measured lower LPIPS than
the fast decode on the held-out photos (docs/models.md), and the fast decode above.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dicodec
from dicodec.codec import model_store, registry, zoo
from dicodec.eval.metrics import energy_ratio, psnr_rgb

# Each test decodes the whole sample with the real DiT on the CPU: quality checks, not plumbing.
pytestmark = pytest.mark.slow
SAMPLE = Path(dicodec.__file__).parent / "samples" / "coffee.png"
PAIR = ("hp32-v7", "dit-ic-s-v6")


def test_default_model_decodes_generatively_up_to_quality_40_and_fast_above():
    entry = registry.get_entry(None)
    assert (entry.name, entry.generative_name, entry.auto_generative_up_to) == (*PAIR, 40)
    crop = np.asarray(Image.open(SAMPLE).convert("RGB"))[:128, :128]
    for quality, auto in ((40, "generative"), (41, "fast")):
        data = dicodec.encode(crop, quality=quality, device="cpu")
        assert dicodec.api.decode_mode(entry.name, "auto", quality) == auto
        expected = dicodec.decode(data, mode=auto, device="cpu")
        assert np.array_equal(dicodec.decode(data, device="cpu"), expected)


@pytest.fixture(scope="module")
def coded() -> tuple[np.ndarray, bytes]:
    assert all(model_store.locate(zoo.models()[n]) is not None for n in PAIR)  # inside the package
    # The whole 600x400 sample at quality 0 (~0.02 bpp), where the DiT decoder is meant to help.
    image = np.asarray(Image.open(SAMPLE).convert("RGB"))
    return image, dicodec.encode(image, quality=0, device="cpu", model=PAIR[0])


@pytest.mark.slow
def test_the_pair_loads_hash_checked_with_its_own_synthesis(coded):
    entry = registry.get_entry(PAIR[0])
    assert "generative" in entry.decode_modes and entry.generative_name == PAIR[1]
    decoder = registry.load_generative(entry.name, "cpu")  # hash-checked against zoo.json
    assert decoder.config.synthesis_channels > 0  # ships its own fine-tuned synthesis transform
    assert dicodec.api.decode_mode(entry.name) == "generative"
    assert dicodec.api.decode_mode(entry.name, "fast") == "fast"


@pytest.mark.slow
def test_generative_decode_is_deterministic_and_closer_to_the_source(coded):
    image, data = coded
    fast = dicodec.decode(data, mode="fast", device="cpu")
    generative = dicodec.decode(data, mode="generative", device="cpu")
    assert generative.shape == fast.shape == image.shape
    assert np.array_equal(generative, dicodec.decode(data, device="cpu"))  # "auto" at quality 0: the
    # generative decode (and deterministic)
    assert np.abs(generative.astype(int) - fast.astype(int)).mean() > 1.0
    # trained with LPIPS and a discriminator, not for PSNR: 20.10 dB against the fast decode's 20.63
    # here, and 1.50x its gradient energy (1.20-1.58x on the held-out photos at qualities 0-40)
    assert psnr_rgb(image, generative) > psnr_rgb(image, fast) - 1.0
    assert energy_ratio(image, generative, "grad") > 1.3 * energy_ratio(image, fast, "grad")


@pytest.mark.slow
def test_realism_blends_from_the_fast_decode_to_the_generative_one(coded):
    image, data = coded
    full = dicodec.decode(data, mode="generative", device="cpu").astype(int)
    half = dicodec.decode(data, mode="generative", realism=0.5, device="cpu").astype(int)
    none = dicodec.decode(data, mode="generative", realism=0.0, device="cpu").astype(int)
    assert np.array_equal(none, dicodec.decode(data, mode="fast", device="cpu"))  # 0 is the fast decode
    assert np.abs(half - (full + none) / 2).max() <= 1.0  # a pixel blend (up to rounding)
    assert np.abs(full - none).mean() > np.abs(half - none).mean() > 0
    grads = [energy_ratio(image, x.astype(np.uint8), "grad") for x in (none, half, full)]
    assert grads[0] < grads[1] < grads[2]  # texture grows with realism


def test_shipped_weights_fit_the_80_mb_cap():
    """All shipped weights are capped at 80 MB: every file zoo.json ships counts, codec and decoder.

    Retired models are not shipped (they are installed into the cache when needed, models.md)."""
    shipped = [m for m in zoo.models().values() if m.shipped]
    files = {registry.WEIGHTS_DIR / m.file for m in shipped}
    assert files and all(f.is_file() for f in files)
    assert {f.name for f in registry.WEIGHTS_DIR.glob("*.safetensors")} == {f.name for f in files}
    assert sum(f.stat().st_size for f in files) == sum(m.size for m in shipped) <= 80_000_000
