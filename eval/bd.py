"""Bjontegaard delta rate and delta metric between two rate-distortion curves.

G. Bjontegaard, "Calculation of average PSNR differences between RD-curves", ITU-T SG16 VCEG-M33
(2001), fits a cubic polynomial to (metric, log rate) points and compares the integrals over the
overlapping interval:

* **BD-rate**: the average rate difference, in percent, at equal quality:
  ``exp(mean over metric in [lo, hi] of (log R_test - log R_anchor)) - 1``. Negative means the test
  codec needs fewer bits than the anchor for the same quality. Valid for metrics of either
  direction (it compares rates at *equal* metric values).
* **BD-metric** (BD-PSNR for PSNR): the average metric difference at equal rate, integrated over
  the overlapping log-rate interval. Positive means better only for higher-is-better metrics.

A global cubic can oscillate between points, so later revisions of the method (VCEG-AL22, and the
JCT-VC/JVET common-test-condition spreadsheets) replace it with piecewise cubic Hermite
interpolation (PCHIP, Fritsch & Carlson 1980), which is monotone between the points. That is the
default here; ``method="cubic"`` reproduces VCEG-M33.

When the curves do not overlap, have too few points, or a curve is not monotone in rate (so the
inverse "rate as a function of quality" does not exist), the result is n/a with the reason, never
an extrapolated number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.interpolate import PchipInterpolator

Method = Literal["pchip", "cubic"]


@dataclass(frozen=True)
class BDResult:
    """A Bjontegaard delta, or ``value=None`` with the reason it is not defined."""

    value: float | None
    reason: str | None = None

    def format(self, digits: int = 2, percent: bool = False) -> str:
        if self.value is None:
            return "n/a"
        return f"{self.value:+.{digits}f}{'%' if percent else ''}"


def _clean(rate: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Drop non-finite and non-positive-rate points, sort by rate, drop repeats of the same point (a
    codec setting past the encoder's floor, e.g. AVIF quality 0 and 2, gives the very same files), check
    strict monotonicity."""
    r = np.asarray(rate, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    keep = np.isfinite(r) & np.isfinite(m) & (r > 0)
    r, m = r[keep], m[keep]
    order = np.lexsort((m, r))
    r, m = r[order], m[order]
    repeat = np.zeros(len(r), dtype=bool)
    repeat[1:] = (np.diff(r) == 0) & (np.diff(m) == 0)
    r, m = r[~repeat], m[~repeat]
    if len(r) and np.any(np.diff(r) <= 0):
        return r, m, "two points share the same rate"
    dm = np.diff(m)
    if len(m) > 1 and not (np.all(dm > 0) or np.all(dm < 0)):
        return r, m, "metric is not strictly monotone in rate"
    return r, m, None


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: Method) -> float:
    """Integral over [lo, hi] of the interpolant of y(x); x strictly increasing."""
    if method == "pchip":
        return float(PchipInterpolator(x, y, extrapolate=False).integrate(lo, hi))
    poly = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(poly, hi) - np.polyval(poly, lo))


def _prepare(
    rate_a: np.ndarray, metric_a: np.ndarray, rate_t: np.ndarray, metric_t: np.ndarray, method: Method
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str | None]:
    ra, ma, why_a = _clean(rate_a, metric_a)
    rt, mt, why_t = _clean(rate_t, metric_t)
    need = 2 if method == "pchip" else 4
    for label, r, why in (("anchor", ra, why_a), ("test", rt, why_t)):
        if why:
            return (ra, ma), (rt, mt), f"{label}: {why}"
        if len(r) < need:
            return (ra, ma), (rt, mt), f"{label}: {len(r)} valid points, {method} needs {need}"
    if (ma[-1] - ma[0]) * (mt[-1] - mt[0]) < 0:
        return (ra, ma), (rt, mt), "curves improve in opposite directions"
    return (ra, ma), (rt, mt), None


def bd_rate(
    rate_anchor: np.ndarray | list[float],
    metric_anchor: np.ndarray | list[float],
    rate_test: np.ndarray | list[float],
    metric_test: np.ndarray | list[float],
    method: Method = "pchip",
) -> BDResult:
    """Average rate difference of ``test`` vs ``anchor`` at equal metric, in percent.

    Args:
        rate_anchor, metric_anchor: the anchor's RD points (rate in any unit, e.g. bpp).
        rate_test, metric_test: the tested codec's RD points, same units.
        method: ``"pchip"`` (default) or ``"cubic"`` (VCEG-M33 polynomial).
    """
    (ra, ma), (rt, mt), why = _prepare(
        np.asarray(rate_anchor),
        np.asarray(metric_anchor),
        np.asarray(rate_test),
        np.asarray(metric_test),
        method,
    )
    if why:
        return BDResult(None, why)
    lo = max(ma.min(), mt.min())
    hi = min(ma.max(), mt.max())
    if not hi > lo:
        return BDResult(None, "quality ranges do not overlap")
    # Interpolate log-rate as a function of the metric; the metric must increase along x.
    ia = np.argsort(ma)
    it = np.argsort(mt)
    int_a = _integral(ma[ia], np.log(ra[ia]), lo, hi, method)
    int_t = _integral(mt[it], np.log(rt[it]), lo, hi, method)
    return BDResult((math.exp((int_t - int_a) / (hi - lo)) - 1.0) * 100.0)


def bd_metric(
    rate_anchor: np.ndarray | list[float],
    metric_anchor: np.ndarray | list[float],
    rate_test: np.ndarray | list[float],
    metric_test: np.ndarray | list[float],
    method: Method = "pchip",
) -> BDResult:
    """Average metric difference (test minus anchor) at equal rate over the overlapping log-rate range."""
    (ra, ma), (rt, mt), why = _prepare(
        np.asarray(rate_anchor),
        np.asarray(metric_anchor),
        np.asarray(rate_test),
        np.asarray(metric_test),
        method,
    )
    if why:
        return BDResult(None, why)
    la, lt = np.log(ra), np.log(rt)
    lo = max(la.min(), lt.min())
    hi = min(la.max(), lt.max())
    if not hi > lo:
        return BDResult(None, "rate ranges do not overlap")
    int_a = _integral(la, ma, lo, hi, method)
    int_t = _integral(lt, mt, lo, hi, method)
    return BDResult((int_t - int_a) / (hi - lo))
