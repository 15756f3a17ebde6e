"""Analysis and synthesis transforms: images to latents downscaled 32x and back.

Five stride-2 stages as in DiT-IC's 32x latent space (and DC-AE's f32 autoencoders): a 32x latent keeps
the token count of a 2048x2048 image at 4096, which is what lets a Diffusion Transformer decode it in one
step. Each stage follows Balle et al.'s GDN transforms ("Variational image compression with a scale
hyperprior", ICLR 2018) with residual blocks at the coarser stages for capacity (as in ELIC, He et al.,
CVPR 2022). These transforms run in ordinary floating point: they never choose a CDF, so small
device differences only move pixels, never break decoding.
"""

from __future__ import annotations

import warnings

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


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def analysis_transform(channels: int, latent_channels: int) -> nn.Sequential:
    """RGB in [0, 1], (B, 3, H, W) -> latent (B, M, H/32, W/32)."""
    n = channels
    return nn.Sequential(
        _down(3, n), GDN(n),
        _down(n, n), GDN(n),
        _down(n, n), GDN(n), ResidualBlock(n),
        _down(n, n), GDN(n), ResidualBlock(n),
        _down(n, latent_channels),
    )  # fmt: skip


def synthesis_transform(channels: int, latent_channels: int) -> nn.Sequential:
    """Latent (B, M, h, w) -> RGB (B, 3, 32h, 32w), unclamped."""
    n = channels
    return nn.Sequential(
        _up(latent_channels, n), GDN(n, inverse=True), ResidualBlock(n),
        _up(n, n), GDN(n, inverse=True), ResidualBlock(n),
        _up(n, n), GDN(n, inverse=True),
        _up(n, n), GDN(n, inverse=True),
        _up(n, 3),
    )  # fmt: skip
