"""Bit-exactness of entropy decoding across devices (run on a machine with a GPU).

Question: does a latent entropy-coded on the GPU decode to the same integers on the CPU, and back?
When: after any change to the integer entropy path, the coder or the weights format (the last run is
recorded in docs/exact_entropy.md); needs a CUDA device.
Output: counts on stdout and one JSON line.

    python scripts/cross_device_check.py WEIGHTS.safetensors IMAGES_DIR [--qualities 0,30,60,100]

For every image and quality: encode on GPU, entropy-decode the latent on GPU and on CPU, and the same
with the roles swapped; the decoded latents must be identical (torch.equal). Prints counts and a JSON line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

import dicodec
from dicodec.bitstream import container
from dicodec.codec import pipeline, registry
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.codec.weights_io import sha256_file


def entropy_decode(codec, data: bytes) -> list[torch.Tensor]:
    header, tiles = container.read(data)
    coder = pipeline.entropy_coder(header.version)
    out = []
    for i, tile in enumerate(tiles):
        _, _, th, tw = container.tile_rect(header, i)
        dev = codec.log_gain.device
        out.append(
            codec.latent_codec.decompress([tile.z, *tile.y], (th // 32, tw // 32), dev, coder=coder).cpu()
        )
    return out


def main() -> int:
    weights, images = sys.argv[1], sys.argv[2]
    qualities = [int(q) for q in (sys.argv[3] if len(sys.argv) > 3 else "0,30,60,100").split(",")]
    name = registry.register_files(weights, suffix="-check")  # the preset the file's config names
    codecs = {d: registry.load(name, d) for d in ("cpu", "cuda")}
    cases = identical = same_pixels = 0
    for path in list_images(images):
        img = load_rgb(path)
        for q in qualities:
            for enc, dec in (("cuda", "cpu"), ("cpu", "cuda")):
                data = dicodec.encode(img, quality=q, model=name, device=enc)
                a, b = entropy_decode(codecs[enc], data), entropy_decode(codecs[dec], data)
                cases += 1
                identical += all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
                pa = dicodec.decode(data, device=enc)
                pb = dicodec.decode(data, device=dec)
                same_pixels += int(np.abs(pa.astype(int) - pb).max() <= 1)
    print(
        json.dumps(
            {
                "cases": cases,
                "identical_latents": identical,
                "pixels_within_1": same_pixels,
                "weights_sha256": sha256_file(weights),
                "gpu": torch.cuda.get_device_name(),
            }
        )
    )
    return 0 if identical == cases else 1


if __name__ == "__main__":
    raise SystemExit(main())
