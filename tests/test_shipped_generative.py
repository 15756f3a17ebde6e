"""The generative decoder on a real photo, and what the default model's files decode with.

The plumbing is covered with tiny random modules in ``test_generative_api.py``; these tests load the
real, hash-checked weights and check what a user gets. The default codec ``hp32-v7`` ships without a
DiT decoder (``dit-ic-s-v5`` was trained on ``hp32-v6``'s latents and loses 1-3.5 dB on ``hp32-v7``'s,
docs/models.md), so its files decode with the fast synthesis; the ``hp32-v6`` + ``dit-ic-s-v5`` pair,
retired from the package in dicodec 0.8, is checked once installed (``dicodec models add``): a
deterministic decode that differs from the fast one, closer to the source at a low rate and with more
of its texture (here on the bundled sample at quality 0, ~0.02 bpp: the very low rates it is for).
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
PAIR = ("hp32-v6", "dit-ic-s-v5")


def test_default_model_decodes_fast_and_says_so_when_asked_for_a_generative_decode():
    entry = registry.get_entry(None)
    assert entry.decode_modes == ("fast",) and not entry.generative_name
    assert dicodec.api.decode_mode(entry.name) == "fast"  # "auto" follows the model
    data = dicodec.encode(np.asarray(Image.open(SAMPLE).convert("RGB"))[:128, :128], quality=0, device="cpu")
    with pytest.raises(dicodec.DicodecError, match="generative"):
        dicodec.decode(data, mode="generative", device="cpu")


@pytest.fixture(scope="module")
def coded() -> tuple[np.ndarray, bytes]:
    missing = [n for n in PAIR if model_store.locate(zoo.models()[n]) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} ('dicodec models add FILE')")
    # The whole 600x400 sample: dit-ic-s-v5 gives +0.72 dB and 1.29x the fast decode's gradient energy
    # here. (Until dicodec 0.6 this was the 192 px cup crop at quality 15, ~0.1 bpp; there dit-ic-s-v5
    # adds only 1.04x and realism 0.5 has less gradient energy than 0, a pixel blend of two textures.)
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
    assert np.array_equal(generative, dicodec.decode(data, device="cpu"))  # "auto": the model has a
    # DiT decoder, so the default decode of its files is the generative one (and deterministic)
    assert np.abs(generative.astype(int) - fast.astype(int)).mean() > 1.0
    assert psnr_rgb(image, generative) > psnr_rgb(image, fast) + 0.3
    # the GAN-trained decoder restores texture the fast decode smooths away: dit-ic-s-v5 gives 1.29x
    # here and 1.08-1.26x on the held-out photos at qualities 0-40 (docs/models.md)
    assert energy_ratio(image, generative, "grad") > 1.2 * energy_ratio(image, fast, "grad")


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
