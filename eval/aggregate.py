"""Averaging per-item results into RD curves, and Bjontegaard tables against an anchor.

Curves are averaged the way CompressAI's result files are: for each codec and quality setting the
rate (bpp) and every metric are the arithmetic mean over the items (images or clips) that have a
value, so a metric in dB is averaged in dB. BD numbers are then computed on those averaged curves
(one number per codec and metric, as in most learned-compression papers), not per item.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .bd import BDResult, Method, bd_metric, bd_rate
from .metrics import METRICS

Record = dict[str, Any]


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None if there are none. ``inf`` propagates."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    if any(math.isnan(v) for v in vals):
        return math.nan
    return float(np.mean(vals))


def average_curves(
    records: list[Record], curves: list[str], qualities: dict[str, list[float]], metrics: list[str]
) -> list[Record]:
    """One row per (curve, quality) with mean rate, timings and metrics over the items.

    Args:
        records: per-item rows with keys ``codec`` (curve name), ``quality``, ``bpp``, ``bytes``,
            ``encode_s``, ``decode_s`` and one key per metric.
        curves: curve names in report order.
        qualities: curve -> quality values in sweep order.
        metrics: metric names to average (missing keys count as n/a).
    """
    rows: list[Record] = []
    for curve in curves:
        for q in qualities.get(curve, []):
            group = [r for r in records if r["codec"] == curve and r["quality"] == q]
            if not group:
                continue
            row: Record = {"codec": curve, "quality": q, "n": len(group)}
            for key in ("bpp", "bytes", "encode_s", "decode_s"):
                row[key] = mean_or_none(r.get(key) for r in group)
            for m in metrics:
                if METRICS[m].scope != "set":
                    row[m] = mean_or_none(r.get(m) for r in group)
            rows.append(row)
    return rows


def curve_points(rows: list[Record], curve: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, metric) arrays of one averaged curve, skipping points where either is missing."""
    pts = [(r["bpp"], r.get(metric)) for r in rows if r["codec"] == curve]
    pts = [(b, v) for b, v in pts if b is not None and v is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    b, v = zip(*pts, strict=True)
    return np.asarray(b, dtype=np.float64), np.asarray(v, dtype=np.float64)


def bd_table(
    rows: list[Record], curves: list[str], anchor: str, metrics: list[str], method: Method = "pchip"
) -> dict[str, Any]:
    """BD-rate and BD-metric of every curve against ``anchor`` for every BD-capable metric.

    Returns:
        ``{"anchor", "method", "metrics", "rows": {curve: {metric: {bd_rate, bd_rate_reason,
        bd_metric, bd_metric_reason}}}}``; values are None (n/a) with a reason when undefined.
    """
    bd_metrics = [m for m in metrics if METRICS[m].bd]
    table: dict[str, Any] = {"anchor": anchor, "method": method, "metrics": bd_metrics, "rows": {}}
    anchor_present = any(r["codec"] == anchor for r in rows)
    for curve in curves:
        if curve == anchor:
            continue
        entry: dict[str, Any] = {}
        for m in bd_metrics:
            if not anchor_present:
                r_res = m_res = BDResult(None, f"anchor {anchor} has no results")
            else:
                ra, ma = curve_points(rows, anchor, m)
                rt, mt = curve_points(rows, curve, m)
                if len(rt) == 0:
                    r_res = m_res = BDResult(None, "no results for this codec/metric")
                elif len(ra) == 0:
                    r_res = m_res = BDResult(None, "no anchor results for this metric")
                else:
                    r_res = bd_rate(ra, ma, rt, mt, method)
                    m_res = bd_metric(ra, ma, rt, mt, method)
            entry[m] = {
                "bd_rate": r_res.value,
                "bd_rate_reason": r_res.reason,
                "bd_metric": m_res.value,
                "bd_metric_reason": m_res.reason,
            }
        table["rows"][curve] = entry
    return table
