"""scripts/gpu_long_run.sh start: the detached run, its exit status in the log, one retry."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_long_run.sh"


def _start(tmp_path: Path, torchrun_body: str) -> subprocess.CompletedProcess:
    """Run ``start`` with a stand-in ``torchrun`` (and ``python3`` answering the GPU count)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "torchrun").write_text(f"#!/usr/bin/env bash\n{torchrun_body}\n")
    (bin_dir / "python3").write_text("#!/usr/bin/env bash\necho 1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "gpu_env.sh").write_text("")  # no installs here
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", RUN=str(tmp_path / "run"), START_GRACE="1")
    return subprocess.run(["bash", str(SCRIPT), "start"], cwd=repo, env=env, capture_output=True, text=True)


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_a_run_that_lives_is_started_and_logs_its_exit_status(tmp_path):
    result = _start(tmp_path, 'echo "training $*"; sleep 3; exit 3')
    assert result.returncode == 0 and "started hp32g" in result.stdout, result.stderr
    subprocess.run(["sleep", "3"])
    log = (tmp_path / "run.txt").read_text()
    assert "--config hp32g" in log and "training process exited with status 3" in log


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_a_run_that_dies_at_once_is_tried_twice_then_reported(tmp_path):
    counter = tmp_path / "tries"
    result = _start(tmp_path, f'echo try >> {counter}; echo "no GPU"; exit 1')
    assert result.returncode == 1
    assert "starting it again" in result.stderr and "training did not start" in result.stderr
    assert "exited with status 1" in result.stderr
    assert counter.read_text().count("try") == 2
