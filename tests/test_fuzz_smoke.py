"""A few hundred fuzz cases on every test run; the long campaign is ``scripts/fuzz_bitstream.py``."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import load_script

from dicodec.bitstream import read
from dicodec.bitstream.fuzz import MUTATORS, container_target, default_seeds, make_case, run_fuzz

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "container_v1_0.dic"


class TestFuzzSmoke:
    def test_default_seeds_are_valid(self) -> None:
        seeds = default_seeds()
        assert len(seeds) >= 3
        for data in seeds:
            read(data)
            container_target(data)

    def test_cases_are_reproducible(self) -> None:
        seeds = default_seeds()
        assert [make_case(5, i, seeds) for i in range(50)] == [make_case(5, i, seeds) for i in range(50)]
        assert len({make_case(s, 0, seeds) for s in range(10)}) > 1  # the seed matters

    def test_mutators_never_crash_on_odd_inputs(self) -> None:
        rng = random.Random(0)
        for data in (b"", b"\x89", default_seeds()[0][:20], b"\0" * 64):
            for mutate in MUTATORS:
                assert isinstance(mutate(data, rng), bytes)

    def test_container_reader_survives(self) -> None:
        lines: list[str] = []
        result = run_fuzz(600, seed=1234, target_fn=container_target, log=lines.append)
        assert result.cases == 600
        assert result.failures == [], lines

    def test_golden_file_as_seed(self) -> None:
        result = run_fuzz(300, seed=99, target_fn=container_target, seeds_data=[GOLDEN.read_bytes()])
        assert result.failures == []

    def test_failures_are_caught_and_saved(self, tmp_path: Path) -> None:
        def buggy(data: bytes) -> None:
            read(data)  # DicodecErrors are fine...
            raise IndexError("boom")  # ...anything else on a valid file is a bug

        lines: list[str] = []
        result = run_fuzz(200, seed=3, target_fn=buggy, crash_dir=tmp_path, log=lines.append)
        assert result.failures, "the seeds survive some mutations, so some cases must reach the bug"
        first = result.failures[0]
        assert first.error == "IndexError: boom" and first.path is not None
        assert first.path.read_bytes() == make_case(3, first.index, default_seeds())
        assert any("FAIL case" in line for line in lines)


def test_script_runs_and_summarizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = load_script("fuzz_bitstream").main
    argv = ["--cases", "300", "--seed", "7", "--crash-dir", str(tmp_path), "--input", str(GOLDEN)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("300 cases, 0 failures, ")
    assert list(tmp_path.iterdir()) == []
