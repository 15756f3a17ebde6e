"""Opt-in section timers for benchmarks (``scripts/bench.py``); free when disabled.

Sections nest nothing and only add up wall time per name; on CUDA they synchronize so asynchronous
kernels are charged to the section that launched them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import torch

_totals: dict[str, float] | None = None


def enable() -> None:
    global _totals
    _totals = defaultdict(float)


def disable() -> dict[str, float]:
    global _totals
    totals, _totals = dict(_totals or {}), None
    return totals


@contextmanager
def section(name: str):
    if _totals is None:
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    try:
        yield
    finally:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        _totals[name] += time.perf_counter() - start
