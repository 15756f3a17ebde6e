"""A detail layer beside the 32x latent: more values per 32x32 block without widening the DiT's latent.

Why: a 32x32 block of a photo needs about 1,000 coefficients for 36 dB; the 320-channel 1/32 latent
holds 320, and the transforms' 160-channel 1/16 stages hold 640, so no wider 1/32 latent alone gets
past ~33 dB (``scripts/linear_ceiling.py``, docs/training.md "Latent width"). The detail layer taps the
analysis at 1/8 (2,560 values per block), codes ``D`` channels at 1/16 (``4D`` per block) and adds
them back to the synthesis at 1/8, bypassing both 1/16 bottlenecks. The base latent stays what the
Diffusion Transformer decoder reads (DiT-IC's 32x latent), so the detail layer is an enhancement layer
in the sense of scalable coding (Schwarz et al., "Overview of the Scalable Video Coding Extension of
the H.264/AVC Standard", 2007): coarse qualities can leave it almost empty.

Packing: the 1/16 detail latent travels as ``pixel_unshuffle(., 2)``, ``4D`` channels on the 1/32
grid, concatenated after the base latent's channels. One latent tensor per tile keeps tiling, padding,
strip-wise synthesis and the bitstream's per-tile strings unchanged; the detail channels have their
own hyperprior and channel-context entropy model (:class:`~dicodec.codec.model.ImageCodec`).

The synthesis branch's last layer starts at zero (as ReZero and DiT's adaLN-zero), so a layered preset
warm-started from a released file decodes that file's pixels at step 0.
"""

from __future__ import annotations

import warnings

import torch.nn.functional as F
from torch import Tensor, nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from compressai.layers import GDN

PACK = 2  # the 1/16 detail latent packed onto the 1/32 grid: 4 channels per detail channel


class DetailAnalysis(nn.Module):
    """1/8 features (B, N, 8h, 8w) -> packed detail latent (B, 4D, h, w)."""

    def __init__(self, channels: int, detail_channels: int):
        super().__init__()
        d = detail_channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, d, 5, stride=2, padding=2),  # 1/8 -> 1/16
            GDN(d),
            nn.Conv2d(d, d, 3, padding=1),
        )

    def forward(self, features: Tensor) -> Tensor:
        return F.pixel_unshuffle(self.body(features), PACK)


class DetailSynthesis(nn.Module):
    """Packed detail latent (B, 4D, h, w) -> a residual (B, N, 8h, 8w) for the synthesis' 1/8 features."""

    def __init__(self, channels: int, detail_channels: int):
        super().__init__()
        d = detail_channels
        self.body = nn.Sequential(
            nn.Conv2d(d, d, 3, padding=1),
            GDN(d, inverse=True),
            nn.ConvTranspose2d(d, channels, 5, stride=2, padding=2, output_padding=1),  # 1/16 -> 1/8
        )
        last = self.body[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, packed: Tensor) -> Tensor:
        return self.body(F.pixel_shuffle(packed, PACK))
