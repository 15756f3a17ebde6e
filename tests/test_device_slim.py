"""scripts/device_slim.sh: take big tracked files out of a device call's transfer and put them back."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_slim.sh"


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=repo, capture_output=True, text=True, check=check)


def test_on_size_off_round_trip(tmp_path):
    repo = tmp_path / "repo"
    (repo / "weights").mkdir(parents=True)
    (repo / "docs" / "results").mkdir(parents=True)
    (repo / "weights" / "big.bin").write_bytes(b"x" * 5000)
    (repo / "docs" / "results" / "r.csv").write_text("a,b\n")
    (repo / "code.py").write_text("print(1)\n")
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")

    slim = ("bash", str(SCRIPT))
    assert run(repo, *slim, "status").stdout.strip() == "not slimmed"
    run(repo, *slim, "on", "weights/big.bin", "docs/results")
    assert run(repo, "git", "ls-files").stdout.split() == ["code.py"]
    # the files stay on disk but are ignored: the device tool would copy neither
    assert (repo / "weights" / "big.bin").is_file()
    assert run(repo, "git", "ls-files", "--others", "--exclude-standard").stdout == ""
    assert run(repo, *slim, "status", check=False).returncode == 1
    assert run(repo, *slim, "on", "code.py", check=False).returncode == 1  # no second slimming
    size = run(repo, *slim, "size", "weights")
    assert "tree 9 + carry 5000 = 5009 bytes" in size.stdout and "fits" in size.stdout

    run(repo, *slim, "off")
    assert sorted(run(repo, "git", "ls-files").stdout.split()) == [
        "code.py", "docs/results/r.csv", "weights/big.bin",
    ]  # fmt: skip
    assert run(repo, "git", "status", "--porcelain").stdout == ""  # index as committed again
    assert "device_slim" not in (repo / ".git" / "info" / "exclude").read_text()
    assert run(repo, *slim, "off").stdout.strip() == "nothing slimmed"


def test_refuses_untracked_or_missing_paths(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "loose.txt").write_text("x")
    run(repo, "git", "init", "-q")
    slim = ("bash", str(SCRIPT))
    assert "not tracked" in run(repo, *slim, "on", "loose.txt", check=False).stderr
    assert "no such path" in run(repo, *slim, "on", "nope", check=False).stderr
