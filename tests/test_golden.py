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

# name -> (quality, tile size, crop (top, left, h, w) of the sample or None)
CASES = {
    "coffee_hp32-v1_q10": (10, 2048, None),
    "coffee_hp32-v1_q80": (80, 2048, None),
    "coffee_crop_hp32-v1_q50_tiles128": (50, 128, (40, 60, 300, 200)),
}

LATENT_SHA256 = {
    "coffee_hp32-v1_q10": "764ddbc14a0a181da3ac12391d8809822a3a2fcc3f9d7c6abd9131a05cb27d98",
    "coffee_hp32-v1_q80": "524210737164f56c9966f2a01b9b929e2f70a15b24c6ee21e51652ff7f7b2398",
    "coffee_crop_hp32-v1_q50_tiles128": "4f2a54ed530426c13cc875dff26af7d831b8dd833c02d432199b11d5897f5299",
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
    decoded = dicodec.decode(data, device="cpu")
    reference = np.asarray(Image.open(GOLDEN / f"{name}.png").convert("RGB"))
    assert decoded.shape == reference.shape
    assert np.abs(decoded.astype(int) - reference).max() <= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_header(name: str) -> None:
    quality, tile, crop = CASES[name]
    info = dicodec.inspect((GOLDEN / f"{name}.dic").read_bytes())
    h, w = sample(crop).shape[:2]
    assert (info["model"], info["quality"], info["tile_size"], info["width"], info["height"]) == (
        "hp32-v1",
        quality,
        tile,
        w,
        h,
    )


def write() -> None:
    for name, (quality, tile, crop) in CASES.items():
        data = dicodec.encode(sample(crop), quality=quality, model="hp32-v1", device="cpu", tile_size=tile)
        (GOLDEN / f"{name}.dic").write_bytes(data)
        Image.fromarray(dicodec.decode(data, device="cpu")).save(GOLDEN / f"{name}.png")
        print(f'    "{name}": "{latent_digest(data)}",  # {len(data)} bytes')


if __name__ == "__main__" and "--write" in sys.argv:
    write()
