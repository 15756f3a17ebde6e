"""RGB <-> Y'CbCr conversions used by the codec anchors and the metrics.

We convert colours ourselves instead of letting swscale do it: swscale's default 8-bit full-range
RGB->YUV444 path loses about 3 dB of round-trip PSNR (49 dB instead of 52 dB on ``astronaut``),
which would cap the HEVC anchor at high rates for a reason that has nothing to do with HEVC.
The matrices are the ones of ITU-R BT.601 / BT.709 (``Kr``, ``Kb`` luma weights); "full" range is
the JFIF/BPG convention (Y, Cb, Cr in 0..255), "limited" the studio range (Y 16..235, C 16..240)
that broadcast video, and so the bundled test clips, use.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

Matrix = Literal["bt601", "bt709"]
_KR_KB: dict[str, tuple[float, float]] = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def luma(rgb: np.ndarray, matrix: Matrix = "bt601") -> np.ndarray:
    """Full-range luma ``Y = Kr R + Kg G + Kb B`` as float64 on the 0..255 scale (no rounding).

    Used for PSNR-Y, NIQE and the texture statistics, so that they do not depend on any codec's
    own 8-bit Y plane.
    """
    kr, kb = _KR_KB[matrix]
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim == 2:
        return x
    return kr * x[..., 0] + (1.0 - kr - kb) * x[..., 1] + kb * x[..., 2]


def rgb_to_ycbcr(rgb: np.ndarray, matrix: Matrix = "bt601", full_range: bool = True) -> np.ndarray:
    """uint8 HxWx3 RGB to float HxWx3 Y'CbCr (not rounded; callers round when they quantize)."""
    kr, kb = _KR_KB[matrix]
    x = np.asarray(rgb, dtype=np.float64)
    y = kr * x[..., 0] + (1.0 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2.0 * (1.0 - kb))
    cr = (x[..., 0] - y) / (2.0 * (1.0 - kr))
    if full_range:
        return np.stack([y, cb + 128.0, cr + 128.0], axis=-1)
    return np.stack(
        [16.0 + y * 219.0 / 255.0, 128.0 + cb * 224.0 / 255.0, 128.0 + cr * 224.0 / 255.0], axis=-1
    )


def ycbcr_to_rgb(ycc: np.ndarray, matrix: Matrix = "bt601", full_range: bool = True) -> np.ndarray:
    """float or uint8 HxWx3 Y'CbCr to uint8 RGB (rounded and clipped), the inverse of :func:`rgb_to_ycbcr`."""
    kr, kb = _KR_KB[matrix]
    x = np.asarray(ycc, dtype=np.float64)
    if full_range:
        y, cb, cr = x[..., 0], x[..., 1] - 128.0, x[..., 2] - 128.0
    else:
        y = (x[..., 0] - 16.0) * 255.0 / 219.0
        cb = (x[..., 1] - 128.0) * 255.0 / 224.0
        cr = (x[..., 2] - 128.0) * 255.0 / 224.0
    r = y + 2.0 * (1.0 - kr) * cr
    b = y + 2.0 * (1.0 - kb) * cb
    g = (y - kr * r - kb * b) / (1.0 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def quantize(x: np.ndarray) -> np.ndarray:
    """Round and clip to uint8 (the 8-bit planes a codec is fed)."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def downsample_chroma(c: np.ndarray) -> np.ndarray:
    """2x2 box average of one chroma plane (centre-sited 4:2:0, as JPEG/JFIF); H and W must be even."""
    h, w = c.shape
    return np.asarray(c, dtype=np.float64).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def upsample_chroma(c: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear 2x upsampling with centre-aligned sample positions (the inverse siting of the box filter)."""
    img = Image.fromarray(np.asarray(c, dtype=np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)


def pad_to_even(rgb: np.ndarray) -> np.ndarray:
    """Replicate the last row/column so that both sides are even (4:2:0 needs whole chroma samples)."""
    h, w = rgb.shape[:2]
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def pack_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Planes -> PyAV's ``yuv420p`` ndarray: the three planes back to back, viewed as (H * 3 / 2, W).

    The chroma planes are not row-aligned in that view when H is not a multiple of 4, so this goes
    through the flat buffer rather than reshaping each plane to (H / 4, W).
    """
    h, w = y.shape
    flat = np.concatenate([np.ravel(y), np.ravel(u), np.ravel(v)]).astype(np.uint8)
    return flat.reshape(h * 3 // 2, w)


def unpack_yuv420(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyAV's (H * 3 / 2, W) ``yuv420p`` ndarray -> (Y (H, W), U (H/2, W/2), V (H/2, W/2))."""
    w = arr.shape[1]
    h = arr.shape[0] * 2 // 3
    flat = np.ravel(arr)
    n, c = h * w, (h // 2) * (w // 2)
    return (
        flat[:n].reshape(h, w),
        flat[n : n + c].reshape(h // 2, w // 2),
        flat[n + c : n + 2 * c].reshape(h // 2, w // 2),
    )
