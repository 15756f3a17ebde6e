"""The training pack: every train image as JPEG q95 4:4:4, shrunk until the pack fits its budget.

The budget exists because the GPU machine takes at most 64 MiB of code plus data per call.
"""

from __future__ import annotations

from pathlib import Path

from .files import log, safe_name, sha256_bytes, write_if_changed
from .pixels import encode_jpeg, load_rgb, resize_long_side
from .scan import Candidate

PACK_LONG_SIDE = 1536
PACK_QUALITY = 95
PACK_BUDGET_BYTES = 45_000_000  # the GPU machine takes 64 MiB of code + data per call
PACK_SHRINK = 0.875  # long side factor per retry when the pack is over budget
# GCompris' photos are lossy WebP at ~0.6 bpp: packed downscaled 2x, which hides their coding artifacts,
# but never below a short side of PACK_MIN_SHORT_SIDE (smaller images would be upscaled again by the
# crop sampler).
PACKAGE_DOWNSCALE = {"gcompris-qt-data": 2.0}
PACK_MIN_SHORT_SIDE = 512


def pack_long_side(c: Candidate, long_side: int) -> int:
    """The long side ``c`` is packed at: ``long_side``, or less for PACKAGE_DOWNSCALE packages."""
    factor = PACKAGE_DOWNSCALE.get(c.package, 1.0)
    if factor == 1.0:
        return long_side
    scale = min(1.0, max(1.0 / factor, PACK_MIN_SHORT_SIDE / min(c.width, c.height)))
    return min(long_side, round(max(c.width, c.height) * scale))


def build_pack(
    train: list[Candidate], pack: Path, long_side: int, quality: int, budget: int
) -> tuple[dict, int]:
    """Encode the train images; shrink the long side by PACK_SHRINK until the total fits ``budget``.

    Returns ``({id: {"file", "bytes", "size", "sha256"}}, long side used)``.
    """
    pack.mkdir(parents=True, exist_ok=True)
    while True:
        entries, blobs, total = {}, {}, 0
        for n, c in enumerate(train, 1):
            side = pack_long_side(c, long_side)
            im = resize_long_side(load_rgb(c.file, draft_long_side=2 * side), side)
            data = encode_jpeg(im, quality)
            name = safe_name(c.id) + ".jpg"
            blobs[name] = data
            entries[c.id] = {
                "file": name,
                "bytes": len(data),
                "size": list(im.size),
                "sha256": sha256_bytes(data),
            }
            total += len(data)
            if n % 10 == 0 or n == len(train):
                log(f"  pack {n}/{len(train)} ({total / 1e6:.1f} MB at long side {long_side})")
        if total <= budget or long_side <= 256:
            break
        long_side = int(long_side * PACK_SHRINK) // 32 * 32
        log(f"  over budget ({total / 1e6:.1f} > {budget / 1e6:.0f} MB): retry at long side {long_side}")
    for stale in sorted(pack.glob("*.jpg")):
        if stale.name not in blobs:
            stale.unlink()
    for name, data in blobs.items():
        write_if_changed(pack / name, data)
    return entries, long_side
