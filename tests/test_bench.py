"""scripts/bench.py runs both decode modes on a small image (the figures themselves are not asserted)."""

from __future__ import annotations

import click
import pytest
from conftest import load_script

from dicodec.codec import registry


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


@pytest.fixture()
def restore_default_entry():
    name = registry.default_name()
    entry = registry.get_entry(name)
    yield
    registry.unregister_codec(name)
    registry.register_codec(entry)


def test_fast_row_has_phases(bench):
    row = bench.run_case("cpu", 128, 128, 50, 1, None)
    assert row["mode"] == "fast" and row["decoder"] is None
    assert row["decode_ms"]["total"] > 0 and "rans" in row["decode_ms"] and "dit" not in row["decode_ms"]
    assert "fast" in bench.format_row(row)


def test_generative_row_times_the_dit(bench, restore_default_entry):
    row = bench.run_case("cpu", 128, 128, 50, 1, None, mode="generative", untrained="dit-ic-tiny")
    assert row["decoder"] == "untrained dit-ic-tiny (timing only)"
    assert row["decode_ms"]["dit"] > 0
    assert "dit" in bench.format_row(row)


def test_generative_without_a_decoder_explains_what_to_pass(bench):
    if "generative" in registry.get_entry(None).decode_modes:
        pytest.skip("the default model ships a generative decoder")
    with pytest.raises(click.ClickException, match="--untrained-decoder"):
        bench.prepare_generative(None, None)


def test_startup_phases_and_end_to_end_table(bench):
    row = bench.startup_phases("cpu", 128, 96, 50, 1, "fast")
    assert row["import_s"] > 0 and row["weights_s"] >= 0 and row["device_s"] >= 0
    assert row["encode_first_s"] > 0 and row["decode_s"] > 0 and row["gpu"] is None
    row.update(
        batch=4, cli_one_encode_s=2.5, cli_one_decode_s=2.6, cli_batch_encode_s=0.4, cli_batch_decode_s=0.5
    )
    table = bench.format_end_to_end([row])
    assert "| CPU (" in table and "2.50 / 2.60" in table and "0.40 / 0.50 (N=4)" in table
    assert table.count("\n|---") == 2


@pytest.mark.slow
def test_end_to_end_runs_the_command_line(bench):
    row = bench.end_to_end("cpu", 128, 96, 50, 1, 2, "fast")
    assert row["cli_one_encode_s"] > row["encode_s"] and row["cli_batch_decode_s"] > 0
