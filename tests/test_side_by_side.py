"""scripts/side_by_side.py: the rate search and a small sheet with a Pillow codec."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from conftest import load_script
from PIL import Image


def load():
    return load_script("side_by_side")


def test_rate_search_picks_the_largest_quality_under_the_target():
    sbs = load()
    img = np.zeros((10, 10, 3), np.uint8)  # 100 pixels: q bytes -> 0.08 * q bpp
    q, data = sbs.at_rate(lambda _img, q: b"x" * q, img, 2.0, 0, 100)
    assert q == 25 and len(data) == 25
    q, _ = sbs.at_rate(lambda _img, q: b"x" * (q + 50), img, 2.0, 0, 100)
    assert q == 0  # nothing fits: the lowest quality, whose real rate the label shows


def test_descending_parameter_is_searched_from_its_mirror_image():
    sbs = load()
    img = np.zeros((10, 10, 3), np.uint8)  # 100 pixels; a QP-like codec: (52 - qp) bytes
    setting, data = sbs.search("hevc", lambda _img, qp: b"x" * (52 - qp), img, 0.8)
    assert (setting, len(data)) == ("QP42", 10)  # the lowest QP (most bits) under 0.8 bpp
    setting, _ = sbs.search("jpeg", lambda _img, q: b"x" * q, img, 0.8)
    assert setting == "q10"


def test_sheet_with_jpeg(tmp_path):
    sbs = load()
    rng = np.random.default_rng(0)
    src = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        sbs.main,
        [str(src), "--bpp", "2", "--codecs", "jpeg", "--crop", "48", "--zoom", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "jpeg q" in result.output
    sheet = Image.open(out)
    assert sheet.size == (2 * 48, 48 + sbs.LABEL_HEIGHT)
