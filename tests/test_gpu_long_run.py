"""scripts/gpu_long_run.sh: the detached run (exit status, one retry), the compile cache's round trip."""

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


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_the_compile_cache_comes_back_in_parts_and_is_unpacked_on_the_next_machine(tmp_path):
    """``cache`` packs the Inductor cache into $OUT; joined into .carry, gpu_env.sh unpacks it once."""
    repo = Path(__file__).resolve().parents[1]
    first = tmp_path / "first_cache"
    (first / "fxgraph" / "ab").mkdir(parents=True)
    (first / "fxgraph" / "ab" / "entry").write_bytes(os.urandom(40_000))
    (first / "locks").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(first), OUT=str(out))
    result = subprocess.run(["bash", str(SCRIPT), "cache"], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    parts = sorted(out.glob("inductor_cache.tar.gz.part-*"))
    assert parts and "1 part(s)" in result.stdout

    machine = tmp_path / "machine"  # the next session's checkout: scripts/ and the joined archive
    (machine / ".carry").mkdir(parents=True)
    (machine / "scripts").mkdir()
    (machine / "scripts" / "gpu_env.sh").write_text((repo / "scripts" / "gpu_env.sh").read_text())
    (machine / ".carry" / "inductor_cache.tar.gz").write_bytes(b"".join(p.read_bytes() for p in parts))
    second = tmp_path / "second_cache"
    show = 'SKIP_INSTALL=1 source scripts/gpu_env.sh && echo "$TORCHINDUCTOR_CACHE_DIR"'
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(second))
    result = subprocess.run(["bash", "-c", show], cwd=machine, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == str(second), result.stderr
    entry = second / "fxgraph" / "ab" / "entry"
    assert entry.read_bytes() == (first / "fxgraph" / "ab" / "entry").read_bytes()
    assert not (second / "locks").exists()
    entry.write_bytes(b"newer")  # written by this machine's runs: a second source does not unpack again
    subprocess.run(["bash", "-c", show], cwd=machine, env=env, check=True, capture_output=True)
    assert entry.read_bytes() == b"newer"


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_cache_without_a_compile_cache_says_so(tmp_path):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "none"), OUT=str(tmp_path))
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(["bash", str(SCRIPT), "cache"], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "no compile cache" in result.stderr
