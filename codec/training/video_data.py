"""Training clips synthesised from still photos by smooth camera motion.

There is no licensed video corpus in the training data (docs/data.md), so clips are made from the
training photos: a virtual camera moves over the photo with a pan of up to a few pixels per frame
(sub-pixel positions included), a slow zoom, a small rotation and a drift of exposure, each changing
linearly over the clip. That is the motion a contextual model must learn to predict (global, smooth,
sub-pixel), without the occlusions and independent motion of real footage, which is why a model trained
only on these is a starting point, not a finished video codec.

Frames are rendered with bilinear resampling (``grid_sample``) from the photo downscaled so that the
crop covers 35-100% of it, which also removes camera noise as the image codec's crops do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dicodec.images import read_image


@dataclass(frozen=True)
class CameraMotion:
    """Ranges of the per-clip motion (each drawn uniformly, applied linearly over the clip)."""

    pan_px: float = 3.0  # largest pan per frame in output pixels, any direction
    zoom: float = 0.01  # largest relative zoom change per frame, in or out
    rotation_deg: float = 0.3  # largest rotation per frame
    exposure: float = 0.01  # largest relative brightness change per frame


def render_clip(
    photo: Tensor, frames: int, size: int, generator: torch.Generator, motion: CameraMotion = CameraMotion()
) -> Tensor:
    """A (frames, 3, size, size) clip in [0, 1] of a virtual camera moving over ``photo`` (3, H, W).

    Args:
        photo: float image in [0, 1], at least ``size`` pixels a side.
        frames: clip length.
        size: side of the square frames.
        generator: the source of every random choice (reproducible clips).
        motion: ranges of pan, zoom, rotation and exposure drift.
    """
    _, h, w = photo.shape

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    angle = u(0, 2 * math.pi)
    speed = u(0, motion.pan_px)
    pan = (speed * math.cos(angle), speed * math.sin(angle))
    zoom, rot, expo = u(-motion.zoom, motion.zoom), u(-1, 1) * math.radians(motion.rotation_deg), u(-1, 1)
    scale = u(size / min(h, w), 1.0) if min(h, w) > size else 1.0  # crop side / photo's shorter side
    # room left for the path: the camera stays inside the photo
    travel = frames * (speed + size * abs(zoom)) + 2
    half_w, half_h = scale * min(h, w) / w, scale * min(h, w) / h
    cx = u(-1 + half_w + 2 * travel / w, 1 - half_w - 2 * travel / w) if half_w < 1 - 2 * travel / w else 0.0
    cy = u(-1 + half_h + 2 * travel / h, 1 - half_h - 2 * travel / h) if half_h < 1 - 2 * travel / h else 0.0
    thetas = []
    px_x, px_y = 2 * scale * min(h, w) / size / w, 2 * scale * min(h, w) / size / h  # output px -> grid
    for t in range(frames):
        s, a = 1 + zoom * t, rot * t
        c, n = math.cos(a) * half_w / s, math.sin(a) / s
        thetas.append(
            [
                [c, -n * half_w, cx + pan[0] * t * px_x],
                [n * half_h, math.cos(a) * half_h / s, cy + pan[1] * t * px_y],
            ]
        )
    theta = torch.tensor(thetas, dtype=photo.dtype, device=photo.device)
    grid = F.affine_grid(theta, [frames, 3, size, size], align_corners=False)
    clip = F.grid_sample(
        photo.expand(frames, -1, -1, -1),
        grid,
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )
    gain = 1 + motion.exposure * expo * torch.arange(frames, dtype=photo.dtype, device=photo.device)
    return (clip * gain.view(-1, 1, 1, 1)).clamp(0, 1)


def read_photo(path: str) -> Tensor:
    """A photo file as a float (3, H, W) tensor in [0, 1], as :func:`render_clip` takes it."""
    return (
        torch.from_numpy(read_image(path, alpha="drop", bit_depth="reduce")).permute(2, 0, 1).float() / 255.0
    )


def render_clip_uint8(
    photo: Tensor, frames: int, size: int, seed: int = 0, motion: CameraMotion = CameraMotion()
) -> np.ndarray:
    """:func:`render_clip` from seed ``seed`` as the uint8 (frames, size, size, 3) frames a codec takes."""
    clip = render_clip(photo, frames, size, torch.Generator().manual_seed(seed), motion)
    return (clip.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


__all__ = ["CameraMotion", "read_photo", "render_clip", "render_clip_uint8"]
