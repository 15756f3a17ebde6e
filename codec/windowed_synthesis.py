"""Run a synthesis transform on overlapping strips of a large latent, to bound peak decode memory.

Why: the synthesis transforms are fully convolutional and their activations at full resolution are
most of a decode's memory (2048x2048 on an H200: 2172 MB peak for the generative decode, 2120 MB for
the fast one, ``scripts/bench.py``; issue 6 asks for at most 2 GB). Decoding a tile in horizontal
strips whose latent rows overlap by the transform's receptive field gives the same pixels with the
peak set by the strip, not the tile.

Receptive field, measured on the shipped weights with the gradient of one latent row's pixels: the
codec's synthesis (``hp32d``, with refinement blocks) reads latent rows -6..+7 around it, the DiT
decoder's own synthesis copy -3..+4. :data:`HALO` = 8 latent rows covers both, so a strip's centre is
the whole-tile result up to float rounding (convolution kernels may pick other algorithms for other
shapes; ``tests/test_windowed_synthesis.py``).

Tiles up to :data:`MAX_STRIP_LATENTS` latent pixels (2.6 MP, so 1920x1088 and below) are synthesised in
one pass, as before: no extra work where memory is not the issue.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from dicodec.codec.transforms import DOWNSCALE

HALO = 8  # latent rows of context on each inner side of a strip (receptive field: 7, see above)
MAX_STRIP_LATENTS = 2560  # latent pixels per pass (2.6 MP); 1920x1080 (34 x 60 = 2040) is one pass
MIN_STRIP_ROWS = 8  # below this the halo would dominate the work


def strip_rows(height: int, width: int, halo: int = HALO) -> list[tuple[int, int]]:
    """Core row ranges ``[(start, stop), ...]`` of the strips a ``height x width`` latent is split into.

    The fewest strips whose largest pass (core plus the ``halo`` rows it has) holds at most
    :data:`MAX_STRIP_LATENTS` latent pixels, with cores of at least :data:`MIN_STRIP_ROWS` rows.
    """
    if height * width <= MAX_STRIP_LATENTS:
        return [(0, height)]
    core = height
    for count in range(2, height + 1):
        core = math.ceil(height / count)
        if core < MIN_STRIP_ROWS:
            core = MIN_STRIP_ROWS
            break
        if (core + (halo if count == 2 else 2 * halo)) * width <= MAX_STRIP_LATENTS:
            break
    return [(top, min(top + core, height)) for top in range(0, height, core)]


def synthesize_in_strips(synthesis: Callable[[Tensor], Tensor], latent: Tensor, halo: int = HALO) -> Tensor:
    """``synthesis(latent)`` for a (B, M, h, w) latent, computed strip by strip when it is large.

    Each strip runs on its core rows plus up to ``halo`` rows above and below (:data:`HALO`, more for a
    synthesis with blocks at 1/32: :func:`~dicodec.codec.transforms.synthesis_reach`); only the core's
    pixels are kept. The output is allocated once, (B, C, 32h, 32w), in the synthesis' dtype.
    """
    height, width = latent.shape[-2:]
    strips = strip_rows(height, width, halo)
    if len(strips) == 1:
        return synthesis(latent)
    out = None
    for top, stop in strips:
        lo, hi = max(top - halo, 0), min(stop + halo, height)
        pixels = synthesis(latent[..., lo:hi, :])
        if out is None:
            out = pixels.new_empty(*pixels.shape[:2], height * DOWNSCALE, width * DOWNSCALE)
        skip, rows = (top - lo) * DOWNSCALE, (stop - top) * DOWNSCALE
        out[..., top * DOWNSCALE : stop * DOWNSCALE, :] = pixels[..., skip : skip + rows, :]
        del pixels  # free the strip before the next one is computed
    assert out is not None
    return out
