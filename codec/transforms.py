"""Analysis and synthesis transforms: images to latents downscaled 32x and back.

Five stride-2 stages as in DiT-IC's 32x latent space (and DC-AE's f32 autoencoders): a 32x latent keeps
the token count of a 2048x2048 image at 4096, which is what lets a Diffusion Transformer decode it in one
step. Each stage follows Balle et al.'s GDN transforms ("Variational image compression with a scale
hyperprior", ICLR 2018) with residual blocks at the coarser stages for capacity (as in ELIC, He et al.,
CVPR 2022).

Presets with ``refine_blocks`` add ConvNeXt blocks (Liu et al., "A ConvNet for the 2020s", CVPR 2022) at
the 1/4, 1/8 and 1/16 stages: a depthwise 7x7 convolution and a pointwise MLP cost a quarter of a
residual block's parameters for a wider reach, which matters with both shipped weights capped at 60 MB.
Their last layer starts at zero, so a transform with refinement blocks computes exactly what the same
transform without them does until training moves it (zero-initialised residual branches, as in ReZero
and DiT's adaLN-zero): a stronger preset warm-starts from released weights without losing a step.

These transforms run in ordinary floating point: they never choose a CDF, so small device differences
only move pixels, never break decoding.
"""

from __future__ import annotations

import warnings

import torch.nn.functional as F
from torch import Tensor, nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from compressai.layers import GDN

STAGES = 5
DOWNSCALE = 2**STAGES  # 32


class ResidualBlock(nn.Module):
    """x + conv(lrelu(conv(x))): extra depth at constant resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ConvNeXtBlock(nn.Module):
    """x + pw2(gelu(pw1(layernorm(dw7x7(x))))), with ``pw2`` zero-initialised: the identity at first."""

    def __init__(self, channels: int, expansion: int = 2):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.expand = nn.Conv2d(channels, expansion * channels, 1)
        self.project = nn.Conv2d(expansion * channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(self.depthwise(x).permute(0, 2, 3, 1))  # layer norm over channels, per position
        return x + self.project(F.gelu(self.expand(h.permute(0, 3, 1, 2))))


class RefinedTransform(nn.Module):
    """A stack of layers named ``0..K-1`` exactly as in an ``nn.Sequential`` (so released weights of the
    plain transform load unchanged), with refinement blocks after some of them under ``refine.<index>``."""

    def __init__(self, layers: list[nn.Module], refine: dict[int, nn.Module]):
        super().__init__()
        self.num_layers = len(layers)
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)
        self.refine = nn.ModuleDict({str(i): block for i, block in refine.items()})

    def forward(self, x: Tensor) -> Tensor:
        for i in range(self.num_layers):
            x = self._modules[str(i)](x)
            if str(i) in self.refine:
                x = self.refine[str(i)](x)
        return x


def _with_refinement(
    layers: list[nn.Module], after: tuple[int, ...], channels: int, blocks: int
) -> nn.Module:
    if blocks <= 0:
        return nn.Sequential(*layers)
    refine = {i: nn.Sequential(*(ConvNeXtBlock(channels) for _ in range(blocks))) for i in after}
    return RefinedTransform(layers, refine)


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def analysis_transform(channels: int, latent_channels: int, refine_blocks: int = 0) -> nn.Module:
    """RGB in [0, 1], (B, 3, H, W) -> latent (B, M, H/32, W/32)."""
    n = channels
    layers = [
        _down(3, n), GDN(n),
        _down(n, n), GDN(n),                     # 3: 1/4
        _down(n, n), GDN(n), ResidualBlock(n),   # 6: 1/8
        _down(n, n), GDN(n), ResidualBlock(n),   # 9: 1/16
        _down(n, latent_channels),
    ]  # fmt: skip
    return _with_refinement(layers, (3, 6, 9), n, refine_blocks)


def synthesis_transform(channels: int, latent_channels: int, refine_blocks: int = 0) -> nn.Module:
    """Latent (B, M, h, w) -> RGB (B, 3, 32h, 32w), unclamped."""
    n = channels
    layers = [
        _up(latent_channels, n), GDN(n, inverse=True), ResidualBlock(n),  # 2: 1/16
        _up(n, n), GDN(n, inverse=True), ResidualBlock(n),               # 5: 1/8
        _up(n, n), GDN(n, inverse=True),                                  # 7: 1/4
        _up(n, n), GDN(n, inverse=True),
        _up(n, 3),
    ]  # fmt: skip
    return _with_refinement(layers, (2, 5, 7), n, refine_blocks)
