"""scripts/transform_ceiling.py: the codec without quantisation, per image and gain level."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "transform_ceiling.py"
SAMPLE = Path(__file__).resolve().parents[1] / "dicodec" / "samples" / "coffee.png"


def load_script():
    spec = importlib.util.spec_from_file_location("transform_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_and_json_on_a_tiny_codec(tmp_path):
    module = load_script()
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
    result = CliRunner().invoke(load_script().main, [str(tmp_path), "--model", "preset:tiny"])
    assert result.exit_code != 0 and "no images found" in result.output
