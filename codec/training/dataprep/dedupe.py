"""Duplicates: identical files, then near-identical 16x16 gray thumbnails (resizes, re-encodes and
color grades of one picture)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .scan import Candidate

# Duplicates: 16x16 gray thumbnails that are close in level (mean absolute difference, 0-255) AND in
# structure (correlation after removing mean and scale). Resizes/re-encodes score MAD < 1, corr ~1.
# The closest distinct pairs in the 2023 packages: color grades of one picture (mate's Ubuntu-Mate
# Cold/Warm/Radioactive: MAD 5-12, corr 0.99, dropped as duplicates); light/dark variants (gnome *-l/*-d,
# plasma Patak/Patak-dark: MAD > 60, kept); unrelated smooth gradients (corr up to 0.90, kept).
DUP_THUMB = 16
DUP_MAX_MAD = 20.0
DUP_MIN_CORR = 0.97


def gray_thumb(im: Image.Image, size: int = DUP_THUMB) -> np.ndarray:
    """Box-filtered gray thumbnail, the fingerprint :func:`dedupe` compares."""
    return np.asarray(im.convert("L").resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def thumb_distance(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean absolute difference, correlation)`` of two gray thumbnails (0-255)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mad = float(np.abs(a - b).mean())
    za, zb = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((za * za).sum() * (zb * zb).sum()))
    # Two flat thumbnails have no structure to compare: equal levels are then enough.
    corr = float((za * zb).sum() / denom) if denom > 1e-9 else 1.0
    return mad, corr


def is_near_duplicate(a: np.ndarray, b: np.ndarray) -> bool:
    """Close in level and in structure (see ``DUP_MAX_MAD`` / ``DUP_MIN_CORR``)."""
    mad, corr = thumb_distance(a, b)
    return mad < DUP_MAX_MAD and corr > DUP_MIN_CORR


def dedupe(
    cands: list[Candidate], late: frozenset[str] = frozenset()
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Drop exact (same sha256) and perceptual duplicates; the one with most pixels (then id) stays.

    Perceptual: :func:`is_near_duplicate` on 16x16 gray thumbnails (``Candidate.thumb``). Cheap and
    enough for ~100 wallpapers, where duplicates are resizes, re-encodes and color grades. Images of
    the ``late`` packages (the extra ones) come after all others, so they never replace one of those.
    """
    kept: list[Candidate] = []
    dropped: list[tuple[Candidate, str]] = []
    for c in sorted(cands, key=lambda c: (c.package in late, -c.pixels, c.id)):
        twin = next((k for k in kept if k.sha256 == c.sha256), None)
        if twin is not None:
            dropped.append((c, f"same file as {twin.id}"))
            continue
        twin = next((k for k in kept if is_near_duplicate(k.thumb, c.thumb)), None)
        if twin is not None:
            mad, corr = thumb_distance(twin.thumb, c.thumb)
            dropped.append((c, f"near-duplicate of {twin.id} (thumb MAD {mad:.1f}, corr {corr:.3f})"))
            continue
        kept.append(c)
    return sorted(kept, key=lambda c: c.id), dropped
