"""Training crops drawn from images held in (GPU) memory.

The whole training pack is decoded once onto the device; every batch is then cut from it with random
multi-scale crops and horizontal flips, so the GPU never waits for a data loader. Downscaling a large
photo before cropping (scale 0.35..1) removes camera noise and gives new content per crop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".ppm", ".tif", ".tiff", ".bmp"}


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images found under {folder}")
    return files


def load_rgb(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im.convert("RGB"))  # a writable copy: torch refuses to share read-only memory


class CropSampler:
    """Random multi-scale crops from a set of images kept as uint8 tensors on ``device``.

    Args:
        folder: a folder of images (any size at least ``crop`` on the short side) or a single file.
        device: where images and crops live.
        min_scale: smallest downscale factor applied before cropping.
        seed: seed of this sampler's generator (give each DDP rank its own).
    """

    def __init__(self, folder: str | Path, device: torch.device, min_scale: float = 0.35, seed: int = 0):
        self.device = device
        self.images = [
            torch.from_numpy(load_rgb(p)).permute(2, 0, 1).contiguous().to(device)
            for p in list_images(folder)
        ]
        self.min_scale = min_scale
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def _crop(self, image: torch.Tensor, crop: int) -> torch.Tensor:
        _, h, w = image.shape
        short = min(h, w)
        if short < crop:  # small image: upscale just enough (rare; the pack holds >= 1 MP photos)
            scale = crop / short
        else:
            scale = float(self.rng.uniform(max(self.min_scale, crop / short), 1.0))
        side = min(int(round(crop / scale)), h, w)
        top = int(self.rng.integers(0, h - side + 1))
        left = int(self.rng.integers(0, w - side + 1))
        patch = image[:, top : top + side, left : left + side].unsqueeze(0).float() / 255.0
        if side != crop:
            patch = F.interpolate(
                patch, size=(crop, crop), mode="bilinear", antialias=True, align_corners=False
            )
        if self.rng.random() < 0.5:
            patch = patch.flip(-1)
        return patch.clamp_(0, 1)

    def sample(self, batch_size: int, crop: int) -> torch.Tensor:
        """A (batch_size, 3, crop, crop) float batch in [0, 1]."""
        picks = self.rng.integers(0, len(self.images), size=batch_size)
        return torch.cat([self._crop(self.images[i], crop) for i in picks], 0)
