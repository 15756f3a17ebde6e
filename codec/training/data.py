"""Training crops drawn from images held in (GPU) memory.

The whole training pack is decoded once onto the device; every batch is then cut from it with random
multi-scale crops and horizontal flips, so the GPU never waits for a data loader. Downscaling a large
photo before cropping (scale 0.35..1) removes camera noise and gives new content per crop.

Optional augmentations (``augment``) widen what a few dozen photos can teach. Why: with ~50 training
photos the entropy model over-fits; late in a run it predicts the largest scales for content it has not
seen and the rate on held-out photos rises while the training rate falls (docs/training.md). Every
symmetry of the square (``dihedral``) and mild colour changes (``colour``: hue rotation about the grey
axis, saturation, gamma) give it inputs it would otherwise never see, at no cost on the device.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dicodec.images import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".ppm", ".tif", ".tiff", ".bmp"}
AUGMENTATIONS = ("dihedral", "colour")
HUE_MAX = 0.35  # radians of hue rotation (about 20 degrees) either way
SATURATION_RANGE = (0.6, 1.4)
GAMMA_RANGE = (0.75, 1.33)


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images found under {folder}")
    return files


def load_rgb(path: str | Path) -> np.ndarray:
    """A training or validation image as ``dicodec encode`` reads it (:func:`dicodec.images.read_image`:
    EXIF orientation applied), alpha dropped and 16 bits reduced; writable, as torch wants."""
    return read_image(path, alpha="drop", bit_depth="reduce")


def parse_mix(spec: str) -> dict[str, float]:
    """``"photo=0.75,graphics=0.25"`` -> ``{"photo": 0.75, "graphics": 0.25}`` (weights normalized)."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise ValueError(f"bad data mix entry {part!r}: expected NAME=WEIGHT") from None
    total = sum(mix.values())
    if mix and (total <= 0 or min(mix.values()) < 0):
        raise ValueError(f"data mix weights must be >= 0 and not all 0: {spec!r}")
    return {k: v / total for k, v in mix.items()}


def parse_augment(spec: str) -> tuple[str, ...]:
    """``"dihedral,colour"`` -> ``("dihedral", "colour")``; unknown names are an error."""
    names = tuple(filter(None, (p.strip() for p in spec.split(","))))
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}: choose from {', '.join(AUGMENTATIONS)}")
    return names


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=device)


def dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each square crop of a (B, 3, S, S) batch under a random one of the 8 symmetries of the square
    (with the horizontal flip the sampler already draws): random transpose, random vertical flip."""
    b = x.shape[0]
    transpose = torch.rand(b, generator=generator, device=x.device).view(-1, 1, 1, 1) < 0.5
    x = torch.where(transpose, x.transpose(-1, -2), x)
    vflip = torch.rand(b, generator=generator, device=x.device).view(-1, 1, 1, 1) < 0.5
    return torch.where(vflip, x.flip(-2), x)


def colour(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random hue rotation about the grey axis, saturation scaling and gamma per image of a batch in
    [0, 1]. Grey stays grey (the rotation axis), so neutral content keeps its statistics."""
    b, device = x.shape[0], x.device
    theta = _uniform(b, -HUE_MAX, HUE_MAX, generator, device)
    sat = _uniform(b, *SATURATION_RANGE, generator, device)
    # log-uniform gamma: as likely to darken as to brighten
    gamma = torch.exp(_uniform(b, math.log(GAMMA_RANGE[0]), math.log(GAMMA_RANGE[1]), generator, device))
    k = torch.full((3,), 3**-0.5, device=device)
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], device=device) * 3**-0.5
    cos, sin = theta.cos().view(-1, 1, 1), theta.sin().view(-1, 1, 1)
    rotation = cos * torch.eye(3, device=device) + sin * cross + (1 - cos) * torch.outer(k, k)  # Rodrigues
    y = torch.einsum("bij,bjhw->bihw", rotation, x)
    grey = y.mean(1, keepdim=True)
    y = grey + sat.view(-1, 1, 1, 1) * (y - grey)
    return y.clamp(0, 1).pow(gamma.view(-1, 1, 1, 1))


def detail(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal + vertical difference per image of a (B, 3, H, W) batch."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3))
    return dx + dy


class CropSampler:
    """Random multi-scale crops from a set of images kept as uint8 tensors on ``device``.

    Args:
        folder: a folder of images (any size at least ``crop`` on the short side) or a single file.
        device: where images and crops live.
        min_scale: smallest downscale factor applied before cropping.
        seed: seed of this sampler's generator (give each DDP rank its own).
        mix: sampling weight of each top-level subfolder of ``folder`` (e.g. ``{"photo": 0.75,
            "graphics": 0.25}``); images within a subfolder are drawn uniformly. Empty: every image
            equally likely.
        detail_candidates: cut this many crops per sample and keep the one with the most detail
            (:func:`detail`). Wallpaper packs are dominated by skies and soft focus; held-out photos are
            not, and a 32x autoencoder learns fine texture slowly unless it sees plenty of it.
        augment: names from :data:`AUGMENTATIONS` applied to every batch (see the module docstring).
    """

    def __init__(
        self,
        folder: str | Path,
        device: torch.device,
        min_scale: float = 0.35,
        seed: int = 0,
        mix: dict[str, float] | None = None,
        detail_candidates: int = 1,
        augment: tuple[str, ...] = (),
    ):
        self.device = device
        self.augment = parse_augment(",".join(augment))
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        folder = Path(folder)
        paths = list_images(folder)
        self.images = [torch.from_numpy(load_rgb(p)).permute(2, 0, 1).contiguous().to(device) for p in paths]
        self.min_scale = min_scale
        self.rng = np.random.default_rng(seed)
        self.detail_candidates = max(1, int(detail_candidates))
        # Image indices per group and the groups' probabilities; without a mix, one group of all images.
        self.groups: list[np.ndarray] = [np.arange(len(self.images))]
        self.group_probs = np.ones(1)
        if mix:
            names = [p.relative_to(folder).parts[0] if folder.is_dir() else "" for p in paths]
            self.groups = [np.array([i for i, n in enumerate(names) if n == group]) for group in mix]
            for group, members in zip(mix, self.groups, strict=True):
                if members.size == 0:
                    raise FileNotFoundError(f"data mix names {group!r}, but {folder}/{group} holds no images")
            self.group_probs = np.array(list(mix.values()), dtype=np.float64)

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

    def _pick(self, count: int) -> np.ndarray:
        groups = self.rng.choice(len(self.groups), size=count, p=self.group_probs)
        return np.array([self.rng.choice(self.groups[g]) for g in groups])

    def sample(self, batch_size: int, crop: int) -> torch.Tensor:
        """A (batch_size, 3, crop, crop) float batch in [0, 1]."""
        k = self.detail_candidates
        picks = self._pick(batch_size * k)
        batch = torch.cat([self._crop(self.images[i], crop) for i in picks], 0)
        if k > 1:
            batch = batch.view(batch_size, k, *batch.shape[1:])
            best = detail(batch.flatten(0, 1)).view(batch_size, k).argmax(1)
            batch = batch[torch.arange(batch_size, device=batch.device), best]
        if "dihedral" in self.augment:
            batch = dihedral(batch, self.generator)
        if "colour" in self.augment:
            batch = colour(batch, self.generator)
        return batch
