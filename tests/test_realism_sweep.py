"""scripts/realism_sweep.py: one bitstream per quality, decoded at several realism settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from conftest import load_script
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "dicodec" / "samples" / "coffee.png"


def test_sweep_rows_means_and_json(generative_model, tmp_path):
    module = load_script("realism_sweep")
    sample = Image.open(SAMPLE).convert("RGB")
    sample.crop((0, 0, 224, 200)).save(tmp_path / "photo.png")
    sample.crop((0, 0, 128, 96)).save(tmp_path / "skimage_small.png")  # too small for NIQE
    out = tmp_path / "rows.json"
    args = [str(tmp_path), "--model", generative_model, "--qualities", "10,60", "--realism", "0,1",
            "--niqe-exclude", "skimage_*", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(module.main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == 2 * 2 * 2
    photo = [r for r in rows if r["image"] == "photo.png"]
    assert all(np.isfinite(r["psnr"]) and r["niqe"] is not None for r in photo)
    assert all(r["niqe"] is None for r in rows if r["image"] == "skimage_small.png")
    # the same bitstream at both settings: same bpp, different pixels
    for q in (10, 60):
        pair = [r for r in photo if r["quality"] == q]
        assert pair[0]["bpp"] == pair[1]["bpp"] and pair[0]["psnr"] != pair[1]["psnr"]
    means = module.means(rows, ("skimage_*",))
    assert len(means) == 4 and all(m["images"] == 2 and m["niqe_images"] == 1 for m in means)
    assert "q= 10 realism=0.00" in result.output


def test_bad_settings_and_unknown_model_are_clear_errors(tmp_path):
    module = load_script("realism_sweep")
    Image.open(SAMPLE).convert("RGB").crop((0, 0, 64, 64)).save(tmp_path / "a.png")
    result = CliRunner().invoke(module.main, [str(tmp_path), "--realism", "0,2"])
    assert result.exit_code == 2 and "[0, 1]" in result.output
    result = CliRunner().invoke(module.main, [str(tmp_path), "--realism", "x"])
    assert result.exit_code == 2 and "numbers" in result.output
    result = CliRunner().invoke(module.main, [str(tmp_path), "--model", "no-such-model"])
    assert result.exit_code == 1 and "Error:" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(module.main, [str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no images found" in result.output
