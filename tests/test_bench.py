"""scripts/bench.py: both decode modes timed, on the tiny in-memory codec (no weights file to load)."""

from __future__ import annotations

import click
import pytest
from conftest import load_script

from dicodec.codec import registry


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def assert_figures(row: dict, width: int, height: int) -> None:
    """What a row's figures must satisfy whatever the machine: positive totals, each phase within its
    total, the phases' sum too (sections do not nest), and the bpp of a real file."""
    for timing in (row["encode_ms"], row["decode_ms"]):
        assert timing["total"] > 0
        phases = [v for k, v in timing.items() if k != "total"]
        assert phases and all(0 <= v <= timing["total"] for v in phases)
        assert sum(phases) <= timing["total"] + 0.1 * len(phases)  # medians are rounded to 0.1 ms
    assert 0 < row["bpp"] < 24 and row["size"] == f"{width}x{height}"
    assert row["peak_host_mb"] > 0 and row["threads"] >= 1


def test_fast_row_has_phases(bench, tiny_model_name):
    row = bench.run_case("cpu", 128, 96, 50, 1, tiny_model_name)
    assert row["mode"] == "fast" and row["decoder"] is None
    assert_figures(row, 128, 96)
    assert {"rans", "exact_params", "network"} <= set(row["decode_ms"]) and "dit" not in row["decode_ms"]
    assert "fast" in bench.format_row(row)


def test_rows_name_the_precision_they_decoded_in(bench, tiny_model_name):
    row = bench.run_case("cpu", 128, 96, 50, 1, tiny_model_name, precision="bfloat16")
    assert row["precision"] == "bfloat16" and " bfloat16 " in bench.format_row(row)
    assert_figures(row, 128, 96)


def test_cpu_row_has_cpu_time_and_goal(bench, tiny_model_name):
    row = bench.run_case("cpu", 128, 96, 50, 1, tiny_model_name)
    usage = row["decode_cpu"]
    assert usage["user_s"] >= 0 and usage["sys_s"] >= 0 and usage["page_faults"] >= 0
    line = bench.format_row(row, goal_ms=1e9)
    assert "q50" in line and "decode cpu user" in line and line.endswith("goal 1000000000 ms: met")
    assert bench.format_row(row, goal_ms=0).endswith("missed")


def test_generative_row_times_the_dit(bench, tiny_model_name):
    row = bench.run_case("cpu", 128, 96, 50, 1, tiny_model_name, mode="generative", untrained="dit-ic-tiny")
    assert row["decoder"] == "untrained dit-ic-tiny (timing only)"
    assert_figures(row, 128, 96)
    assert row["decode_ms"]["dit"] > 0
    assert "dit" in bench.format_row(row)


def test_generative_without_a_decoder_explains_what_to_pass(bench, tiny_model_name):
    assert "generative" not in registry.get_entry(tiny_model_name).decode_modes
    with pytest.raises(click.ClickException, match="--untrained-decoder"):
        bench.prepare_generative(tiny_model_name, None)


def test_startup_phases_and_end_to_end_table(bench):
    row = bench.startup_phases("cpu", 128, 96, 50, 1, "fast")
    assert row["import_s"] > 0 and row["weights_s"] >= 0 and row["device_s"] >= 0
    assert row["encode_first_s"] > 0 and row["decode_s"] > 0 and row["gpu"] is None
    assert row["model"] == registry.default_name()  # the tables say which model they timed
    row.update(
        batch=4, cli_one_encode_s=2.5, cli_one_decode_s=2.6, cli_batch_encode_s=0.4, cli_batch_decode_s=0.5
    )
    table = bench.format_end_to_end([row])
    assert "| CPU (" in table and "2.50 / 2.60" in table and "0.40 / 0.50 (N=4)" in table
    assert f"| {row['model']}, 128x96, fast |" in table
    assert table.count("\n|---") == 2


@pytest.mark.slow
def test_end_to_end_runs_the_command_line(bench):
    row = bench.end_to_end("cpu", 128, 96, 50, 1, 2, "fast")
    assert row["cli_one_encode_s"] > row["encode_s"] and row["cli_batch_decode_s"] > 0
