"""scripts/bench_video.py: frames per second of encode_video / decode_video, in either precision."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_video.py"


def test_a_small_clip_is_timed_in_bfloat16(tmp_path):
    main = runpy.run_path(str(SCRIPT))["main"]
    out = tmp_path / "rows.json"
    args = ["--devices", "cpu", "--sizes", "64x64", "--frames", "2", "--gop", "2", "--repeats", "1"]
    result = CliRunner().invoke(main, [*args, "--precision", "bfloat16", "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "64x64 2 frames q50 GOP 2 bfloat16" in result.output
    (row,) = json.loads(out.read_text())
    assert row["precision"] == "bfloat16" and row["encode_fps"] > 0 and row["decode_fps"] > 0
