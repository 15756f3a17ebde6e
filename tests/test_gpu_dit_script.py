"""scripts/gpu_dit.sh, the GPU run of the DiT stages, on the CPU with the tiny configs (slow: ~2 min).

What a device call returns must be complete: prior samples and log, the exported weights in parts
that fit the device's file limit, and one JSON per phase with every variant's comparison and log.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dicodec.codec.weights_io import load_decoder_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_phases_write_what_a_device_call_returns(tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    out.mkdir()
    env = dict(os.environ, SIZE="tiny", DEVICE="cpu", OUT=str(out), RUN=str(run), PACK="dicodec/samples",
               EVAL="tests/golden",
               ONESTEP_VARIANTS="base:;no-align:--w-align 0 --w-distill 0", GAN_VARIANTS="base:",
               QUALITIES="10")  # fmt: skip
    phases = ["prior", "onestep", "onestep-compare", "gan"]
    result = subprocess.run(["bash", "scripts/gpu_dit.sh", *phases], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert {"prior_samples.png", "prior_log.jsonl", "onestep.json", "gan.json"} <= set(names)
    for stem in ("dit-prior-tiny", "dit-onestep-tiny", "dit-ic-tiny-base"):
        parts = sorted(out.glob(f"{stem}.safetensors.part-*"))
        assert parts, names
        joined = tmp_path / f"{stem}.safetensors"
        joined.write_bytes(b"".join(p.read_bytes() for p in parts))
        load_decoder_file(joined)  # the parts join back into a loadable file
    onestep = json.loads((out / "onestep.json").read_text())
    assert set(onestep) == {"base", "no-align"}
    decoders = {r["decoder"] for r in onestep["base"]["compare"]}
    assert decoders == {"fast", "onestep", "multistep"} and onestep["no-align"]["log"]
    assert set(json.loads((out / "gan.json").read_text())) == {"base"}
    # a second GAN run goes on from the released file alone (no prior, no comparison): what a session
    # does to continue shipped weights
    out2 = tmp_path / "out2"
    out2.mkdir()
    released = tmp_path / "dit-ic-tiny-base.safetensors"
    env2 = dict(env, OUT=str(out2), RUN=str(tmp_path / "run2"), GAN_INIT=str(released), GAN_TEACHER="",
                GAN_OPTS="--w-distill 0 --w-fm 1", GAN_VARIANTS="fm:", SKIP_COMPARE="1")  # fmt: skip
    result = subprocess.run(["bash", "scripts/gpu_dit.sh", "gan"], cwd=ROOT, env=env2, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = [json.loads(line) for line in (tmp_path / "run2" / "gan-fm" / "log.jsonl").read_text().splitlines()]
    assert log and "fm" in log[-1] and not (out2 / "gan.json").exists()
    assert sorted(out2.glob("dit-ic-tiny-fm.safetensors.part-*"))
