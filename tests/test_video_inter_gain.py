"""scripts/video_inter_gain.py: intra-only, inter without and with scale shifts, and encode_video rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "video_inter_gain.py"


def test_a_still_clip_is_coded_four_ways(tmp_path):
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"
    Image.fromarray((rng.random((160, 160, 3)) * 60 + 100).astype(np.uint8)).save(photo)
    out = tmp_path / "rows.json"
    args = ["--size", "64", "--frames", "3", "-q", "50", "--pan", "0", "--zoom", "0", "--rotation", "0"]
    result = subprocess.run([sys.executable, str(SCRIPT), str(photo), *args, "--exposure", "0",
                             "--json-out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {r["scheme"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"intra only", "always, no shifts", "inter always", "encode_video"}
    assert rows["intra only"]["frames"] == "III" and rows["inter always"]["frames"] == "IPP"
    assert rows["inter always"]["psnr"] == rows["always, no shifts"]["psnr"]  # shifts change bits only
    assert rows["inter always"]["bytes"] <= rows["always, no shifts"]["bytes"]
