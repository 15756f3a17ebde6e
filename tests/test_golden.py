"""Golden bitstreams written with the shipped default weights must decode forever.

The entropy-decoded latents are integer-exact on every machine, so their SHA-256 is pinned. Pixels come
from float convolutions whose last bits may differ between CPUs, so they are compared with a stored
reference decode within one 8-bit level instead of by hash.

Regenerate (only when a new model version is added, never to paper over a change):
    python tests/test_golden.py --write
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.bitstream import container
from dicodec.codec import pipeline, registry

GOLDEN = Path(__file__).with_name("golden")
SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"

MODEL = "hp32-v6"  # the model the current goldens were written with
# name -> (quality, tile size, crop (top, left, h, w) of the sample or None, format version)
CASES = {
    "coffee_hp32-v6_q10": (10, 2048, None, "3.0"),
    "coffee_hp32-v6_q80": (80, 2048, None, "3.0"),
    "coffee_crop_hp32-v6_q50_tiles128": (50, 128, (40, 60, 300, 200), "3.0"),
    # 2.0 (CompressAI's rANS, docs/bitstream.md section 8.1) is still read: the same latents as 3.0
    "coffee_hp32-v6_q10_v2": (10, 2048, None, "2.0"),
}

LATENT_SHA256 = {
    "coffee_hp32-v6_q10": "b673fb701e57c295ebc1baca32b7dbcc86ce81920b04bb1da0a16891d525c858",  # 878 bytes
    "coffee_hp32-v6_q80": "532e8efe6d2d659c1213fe3051fbab1dde0f47ccec342c14f50c6348b3ec4fad",  # 10204 bytes
    "coffee_crop_hp32-v6_q50_tiles128": "7d05e0b6eb02526000dad4cb3a6675baceb8d0ae76ed0b35126d42ffd448338f",
    # the 3.0 digest: the entropy coder differs, the latents do not (898 bytes against 878)
    "coffee_hp32-v6_q10_v2": "b673fb701e57c295ebc1baca32b7dbcc86ce81920b04bb1da0a16891d525c858",
}

# Files of models that no longer ship (the 60 MB cap on shipped weights): name -> last release decoding them
RETIRED = {
    "retired_hp32-v1_q10": ("hp32-v1", "0.1.0"),
    "retired_hp32-v2_q30": ("hp32-v2", "0.2.0"),
    "retired_hp32-v3_q10": ("hp32-v3", "0.4.0"),
    "retired_hp32-v4_q10": ("hp32-v4", "0.5.0"),
    "retired_hp32-v5_q10": ("hp32-v5", "0.6.0"),
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
        y_hat = codec.latent_codec.decompress(
            [tile.z, *tile.y],
            (th // 32, tw // 32),
            torch.device("cpu"),
            coder=pipeline.entropy_coder(header.version),
        )
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


def encode_as(version: str, image: np.ndarray, quality: int, tile: int) -> bytes:
    """What ``dicodec.encode`` writes, in any version the writer supports (not only the model's)."""
    entry = dataclasses.replace(registry.get_entry(MODEL), bitstream_version=version)
    x = dicodec.api.to_tensor(image)
    data = pipeline.encode_image(registry.load(MODEL, "cpu"), entry, x, quality, tile)
    assert dicodec.inspect(data)["version"] == version
    return data


def write() -> None:
    """Write the files of new cases with the current writer; existing goldens are never rewritten."""
    for name, (quality, tile, crop, version) in CASES.items():
        if (GOLDEN / f"{name}.dic").exists():
            continue
        data = encode_as(version, sample(crop), quality, tile)
        (GOLDEN / f"{name}.dic").write_bytes(data)
        Image.fromarray(dicodec.decode(data, mode="fast", device="cpu")).save(GOLDEN / f"{name}.png")
        print(f'    "{name}": "{latent_digest(data)}",  # {len(data)} bytes')


if __name__ == "__main__" and "--write" in sys.argv:
    write()
