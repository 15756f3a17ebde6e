"""scripts/transform_ceiling.py: the codec without quantisation, per image and gain level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from conftest import load_script
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "dicodec" / "samples" / "coffee.png"


def test_rows_and_json_on_a_tiny_codec(tmp_path):
    module = load_script("transform_ceiling")
    sample = Image.open(SAMPLE).convert("RGB")
    sample.crop((0, 0, 192, 176)).save(tmp_path / "a.png")  # not a multiple of 32
    sample.crop((0, 0, 128, 128)).save(tmp_path / "small.png")  # too small for MS-SSIM
    out = tmp_path / "ceiling.json"
    result = CliRunner().invoke(module.main, [str(tmp_path), "--model", "preset:tiny", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    names = ("a.png", "small.png")
    # preset:tiny has 3 gain levels: the lowest and the highest are measured
    assert {(r["image"], r["level"]) for r in data["rows"]} == {(n, lv) for n in names for lv in (0, 2)}
    big = [r for r in data["rows"] if r["image"] == "a.png"]
    assert all(np.isfinite(r["psnr"]) and 0 < r["ms_ssim"] <= 1 and r["grad_ratio"] >= 0 for r in big)
    assert all(r["ms_ssim"] is None for r in data["rows"] if r["image"] == "small.png")
    assert "mean over 2 images, level 0" in result.output


def test_empty_folder_is_a_clear_error(tmp_path):
    main = load_script("transform_ceiling").main
    result = CliRunner().invoke(main, [str(tmp_path), "--model", "preset:tiny"])
    assert result.exit_code != 0 and "no images found" in result.output
