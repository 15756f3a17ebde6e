"""Golden bitstreams written with the shipped default weights must decode forever.

The entropy-decoded latents are integer-exact on every machine, so their SHA-256 is pinned. Pixels come
from float convolutions whose last bits may differ between CPUs, so they are compared with a stored
reference decode within one 8-bit level instead of by hash.

Regenerate (only when a new model version is added, never to paper over a change):
    python tests/test_golden.py --write
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.bitstream import container
from dicodec.codec import registry

GOLDEN = Path(__file__).with_name("golden")
SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"

MODEL = "hp32-v5"  # the model the current goldens were written with
# name -> (quality, tile size, crop (top, left, h, w) of the sample or None, format version)
CASES = {
    "coffee_hp32-v5_q10": (10, 2048, None, "2.0"),
    "coffee_hp32-v5_q80": (80, 2048, None, "2.0"),
    "coffee_crop_hp32-v5_q50_tiles128": (50, 128, (40, 60, 300, 200), "2.0"),
}

LATENT_SHA256 = {
    "coffee_hp32-v5_q10": "6ad979040935c8d0e178495f2518e19c753b6109eb7ebaa3ac91cd2fee0dc78d",
    "coffee_hp32-v5_q80": "eaf17f71e1e76d10d14902a219a70ca27d95152ca925da026c3cdc94bd63bb1f",
    "coffee_crop_hp32-v5_q50_tiles128": "5c626c6ee8f1c799b65f328d2d668086864b639fc7e146364f4b4b7d1a210145",
}

# Files of models that no longer ship (the 60 MB cap on shipped weights): name -> last release decoding them
RETIRED = {
    "retired_hp32-v1_q10": ("hp32-v1", "0.1.0"),
    "retired_hp32-v2_q30": ("hp32-v2", "0.2.0"),
    "retired_hp32-v3_q10": ("hp32-v3", "0.4.0"),
    "retired_hp32-v4_q10": ("hp32-v4", "0.5.0"),
}


def sample(crop) -> np.ndarray:
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))
    if crop:
        top, left, h, w = crop
        img = img[top : top + h, left : left + w]
    return np.ascontiguousarray(img)


def latent_digest(data: bytes) -> str:
    header, tiles = container.read(data)
    codec = registry.load(header.model, "cpu")
    h = hashlib.sha256()
    for i, tile in enumerate(tiles):
        _, _, th, tw = container.tile_rect(header, i)
        y_hat = codec.latent_codec.decompress([tile.z, *tile.y], (th // 32, tw // 32), torch.device("cpu"))
        h.update(y_hat.double().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_decodes_to_pinned_latents_and_pixels(name: str) -> None:
    data = (GOLDEN / f"{name}.dic").read_bytes()
    assert latent_digest(data) == LATENT_SHA256[name]
    decoded = dicodec.decode(data, mode="fast", device="cpu")
    reference = np.asarray(Image.open(GOLDEN / f"{name}.png").convert("RGB"))
    assert decoded.shape == reference.shape
    assert np.abs(decoded.astype(int) - reference).max() <= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_header(name: str) -> None:
    quality, tile, crop, version = CASES[name]
    info = dicodec.inspect((GOLDEN / f"{name}.dic").read_bytes())
    h, w = sample(crop).shape[:2]
    assert (info["model"], info["quality"], info["tile_size"], info["width"], info["height"]) == (
        MODEL,
        quality,
        tile,
        w,
        h,
    )
    assert info["version"] == version


@pytest.mark.parametrize("name", sorted(RETIRED))
def test_file_of_a_retired_model_fails_with_a_clear_error(name: str) -> None:
    """Retired models no longer ship: their files must say so, not crash or decode garbage."""
    model, release = RETIRED[name]
    data = (GOLDEN / f"{name}.dic").read_bytes()
    assert dicodec.inspect(data)["model"] == model
    with pytest.raises(dicodec.DicodecError, match=f"no longer shipped.*dicodec {release}"):
        dicodec.decode(data, mode="fast", device="cpu")


def write() -> None:
    """Write the files of new cases with the current writer; existing goldens are never rewritten."""
    for name, (quality, tile, crop, version) in CASES.items():
        if (GOLDEN / f"{name}.dic").exists():
            continue
        data = dicodec.encode(sample(crop), quality=quality, model=MODEL, device="cpu", tile_size=tile)
        assert dicodec.inspect(data)["version"] == version, "the current writer writes another version"
        (GOLDEN / f"{name}.dic").write_bytes(data)
        Image.fromarray(dicodec.decode(data, mode="fast", device="cpu")).save(GOLDEN / f"{name}.png")
        print(f'    "{name}": "{latent_digest(data)}",  # {len(data)} bytes')


if __name__ == "__main__" and "--write" in sys.argv:
    write()
