"""scripts/linear_ceiling.py: the KLT of 32x32 blocks as the floor of a 32x latent's ceiling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from conftest import load_script
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "dicodec" / "samples" / "coffee.png"


def test_blocks_tile_the_image_row_by_row():
    module = load_script("linear_ceiling")
    image = np.arange(64 * 96 * 3, dtype=np.int64).reshape(64, 96, 3) % 251
    b = module.blocks(image.astype(np.uint8))
    assert b.shape == (6, 3072)
    assert np.allclose(b[1].reshape(32, 32, 3) * 255, image[:32, 32:64])  # second block: top row, middle


def test_more_values_per_block_never_reconstruct_worse(tmp_path):
    module = load_script("linear_ceiling")
    sample = Image.open(SAMPLE).convert("RGB")
    train, heldout = tmp_path / "train", tmp_path / "heldout"
    train.mkdir(), heldout.mkdir()
    sample.crop((0, 0, 256, 256)).save(train / "a.png")
    sample.crop((256, 128, 448, 320)).save(heldout / "b.png")
    out = tmp_path / "linear.json"
    args = [str(train), str(heldout), "--k", "4,32,3072", "--json", str(out)]
    result = CliRunner().invoke(module.main, args)
    assert result.exit_code == 0, result.output
    psnr = [r["mean_psnr"] for r in json.loads(out.read_text())["results"]]
    assert psnr[0] < psnr[1] < psnr[2] and psnr[2] > 60  # all 3,072 components: (almost) lossless
