"""scripts/latent_stats.py measures coding error per quality (here on a tiny random codec)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import load_script
from PIL import Image


def test_table_and_json(tmp_path):
    module = load_script("latent_stats")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(
        module.main,
        ["--codec", "preset:tiny", "--data", str(tmp_path), "--crops", "2", "--crop", "128",
         "--qualities", "0,100", "--json-out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| 0 |" in result.output and "t_s matching quality 0" in result.output
    rows = json.loads(out.read_text())["rows"]
    assert [r["quality"] for r in rows] == [0, 100]
    # a coarser quality cannot have a smaller coding error than the finest one
    assert rows[0]["error_std"] >= rows[1]["error_std"] > 0
