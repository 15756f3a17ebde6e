"""Bjontegaard deltas against hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dicodec.eval.aggregate import average_curves, bd_table
from dicodec.eval.bd import bd_metric, bd_rate

RATES = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
PSNR = np.array([27.0, 30.5, 33.5, 36.0, 38.0])  # concave, like a real RD curve


class TestBDRate:
    @pytest.mark.parametrize("method", ["pchip", "cubic"])
    def test_same_curve_at_080x_rate_is_minus_20_percent(self, method):
        # Every quality reached with 0.8x the bits: log-rate shifts by log(0.8) everywhere.
        res = bd_rate(RATES, PSNR, 0.8 * RATES, PSNR, method=method)
        assert res.value == pytest.approx(-20.0, abs=1e-9)
        assert bd_rate(0.8 * RATES, PSNR, RATES, PSNR, method=method).value == pytest.approx(25.0, abs=1e-9)

    def test_identical_curves(self):
        assert bd_rate(RATES, PSNR, RATES, PSNR).value == pytest.approx(0.0, abs=1e-12)

    def test_lower_is_better_metric(self):
        lpips = np.array([0.5, 0.35, 0.22, 0.12, 0.06])  # decreases with rate
        assert bd_rate(RATES, lpips, 0.8 * RATES, lpips).value == pytest.approx(-20.0, abs=1e-9)

    def test_hand_computed_partial_overlap(self):
        # Anchor: PSNR = 10 log10(R) + 40 (linear in log-rate, so PCHIP is exact).
        # Test:   PSNR = 10 log10(R) + 41, i.e. log R_test = log R_anchor - 0.1 ln 10 at equal PSNR.
        r = np.array([0.1, 0.2, 0.5, 1.0])
        anchor = 10 * np.log10(r) + 40
        test = 10 * np.log10(r) + 41
        expected = (10 ** (-0.1) - 1) * 100  # -20.567 %
        assert bd_rate(r, anchor, r, test).value == pytest.approx(expected, abs=1e-9)
        assert bd_metric(r, anchor, r, test).value == pytest.approx(1.0, abs=1e-9)

    def test_no_overlap_is_na(self):
        res = bd_rate(RATES, PSNR, RATES * 10, PSNR + 20)
        assert res.value is None and "overlap" in res.reason
        assert bd_metric(RATES, PSNR, RATES * 100, PSNR).value is None
        assert res.format(percent=True) == "n/a"

    def test_too_few_points_and_non_monotone(self):
        assert "points" in bd_rate(RATES[:1], PSNR[:1], RATES, PSNR).reason
        assert "points" in bd_rate(RATES[:3], PSNR[:3], RATES, PSNR, method="cubic").reason
        bumpy = PSNR.copy()
        bumpy[2] = 29.0
        assert "monotone" in bd_rate(RATES, PSNR, RATES, bumpy).reason

    def test_a_repeated_point_counts_once(self):
        # AVIF below its quality floor: quality 0 and 2 give the same files, so the same (rate, metric).
        rates, psnr = np.insert(RATES, 0, RATES[0]), np.insert(PSNR, 0, PSNR[0])
        assert bd_rate(rates, psnr, 0.8 * RATES, PSNR).value == pytest.approx(-20.0, abs=1e-9)
        clash = psnr.copy()
        clash[0] -= 1.0  # same rate, different quality: not one point, still refused
        assert "same rate" in bd_rate(rates, clash, 0.8 * RATES, PSNR).reason

    def test_non_finite_points_are_dropped(self):
        psnr = PSNR.copy()
        psnr[-1] = math.inf  # a lossless point
        assert bd_rate(RATES, psnr, 0.8 * RATES, psnr).value == pytest.approx(-20.0, abs=1e-9)


class TestBDMetric:
    def test_constant_offset(self):
        assert bd_metric(RATES, PSNR, RATES, PSNR + 0.75).value == pytest.approx(0.75, abs=1e-9)
        assert bd_metric(RATES, PSNR, RATES, PSNR - 2).value == pytest.approx(-2.0, abs=1e-9)


class TestTables:
    def _records(self):
        recs = []
        for img, gain in (("a", 0.0), ("b", 1.0)):
            for q, r, p in zip(range(5), RATES, PSNR, strict=True):
                recs.append(
                    {
                        "image": img,
                        "codec": "anchor",
                        "quality": q,
                        "bpp": r,
                        "bytes": 1,
                        "encode_s": 0,
                        "decode_s": 0,
                        "psnr_rgb": p + gain,
                    }
                )
                recs.append(
                    {
                        "image": img,
                        "codec": "test",
                        "quality": q,
                        "bpp": 0.8 * r,
                        "bytes": 1,
                        "encode_s": 0,
                        "decode_s": 0,
                        "psnr_rgb": p + gain,
                    }
                )
        return recs

    def test_average_then_bd(self):
        quals = {"anchor": list(range(5)), "test": list(range(5))}
        rows = average_curves(self._records(), ["anchor", "test"], quals, ["psnr_rgb", "grad_ratio"])
        assert len(rows) == 10
        assert rows[0]["psnr_rgb"] == pytest.approx(PSNR[0] + 0.5) and rows[0]["n"] == 2
        assert rows[0]["grad_ratio"] is None
        table = bd_table(rows, ["anchor", "test"], "anchor", ["psnr_rgb", "grad_ratio"])
        assert table["metrics"] == ["psnr_rgb"]  # texture ratios get no BD numbers
        assert table["rows"]["test"]["psnr_rgb"]["bd_rate"] == pytest.approx(-20.0, abs=1e-9)

    def test_missing_anchor(self):
        rows = average_curves(self._records(), ["test"], {"test": list(range(5))}, ["psnr_rgb"])
        table = bd_table(rows, ["test"], "avif", ["psnr_rgb"])
        entry = table["rows"]["test"]["psnr_rgb"]
        assert entry["bd_rate"] is None and "anchor" in entry["bd_rate_reason"]
