"""scripts/dit_ablation_table.py: the markdown table of docs/dit.md from ``train_dit compare`` files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dit_ablation_table.py"


def rows(decoders: dict[str, float], image: str = "a.png") -> list[dict]:
    return [
        {"image": image, "quality": q, "decoder": d, "bpp": 0.01 * (q + 1), "psnr": psnr + q / 10,
         "grad_ratio": 0.1, "lap_ratio": 0.01, "niqe": None if d == "multistep" else 17.0}
        for q in (0, 30) for d, psnr in decoders.items()
    ]  # fmt: skip


def test_one_row_per_variant_and_quality_with_fast_and_prior_once(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(rows({"fast": 16.0, "onestep": 17.0, "multistep": 15.0})))
    other = tmp_path / "no-guidance.json"
    other.write_text(json.dumps(rows({"fast": 16.0, "onestep": 16.5}) + rows({"onestep": 18.5}, "b.png")))
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(other)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith("| 0 ") or line.startswith("| 30 ")]
    assert [line.split(" | ")[1] for line in lines] == ["fast", "multi-step prior", "base",
                                                       "no-guidance"] * 2  # fmt: skip
    assert lines[3] == "| 0 | no-guidance | 0.010 | 17.50 | 0.100 | 0.0100 | 17.00 |"  # mean of 2 images
    assert "NIQE" in out and "2 images (a.png, b.png)" in out
    assert lines[1].endswith("| n/a |")  # no NIQE measured for the prior rows: said, not invented
