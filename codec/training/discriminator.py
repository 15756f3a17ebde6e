"""The adversarial part of the DiT decoder's ``gan`` stage: a conditional PatchGAN and its losses.

The frozen hp32 synthesis renders even clean latents with a fraction of the source's gradient energy,
so texture needs a decoder trained against a discriminator, as HiFiC (Mentzer et al., "High-Fidelity
Generative Image Compression", NeurIPS 2020) trains its generator and DiT-IC fine-tunes its VAE
decoder. Training only: nothing here is shipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN after HiFiC (Mentzer et al. 2020, App. A): the latent is mapped to
    ``cond_channels`` by a 1x1 convolution, upsampled (nearest) to the image and concatenated with it;
    4x4 stride-2 spectral-normalised convolutions with leaky ReLUs then give one logit per patch.

    Args:
        latent_channels: channels of the conditioning latent.
        widths: channels of the strided convolutions (receptive field grows with their number).
        cond_channels: channels the latent is reduced to.
    """

    def __init__(
        self, latent_channels: int, widths: tuple[int, ...] = (64, 128, 256, 512), cond_channels: int = 12
    ):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.cond = nn.Conv2d(latent_channels, cond_channels, 1)
        layers: list[nn.Module] = []
        cin = 3 + cond_channels
        for width in widths:
            layers += [sn(nn.Conv2d(cin, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            cin = width
        layers.append(sn(nn.Conv2d(cin, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(
        self, image: Tensor, latent_n: Tensor, return_features: bool = False
    ) -> Tensor | list[Tensor]:
        """Patch logits; with ``return_features`` the output of every strided layer, logits last."""
        cond = F.interpolate(self.cond(latent_n), size=image.shape[-2:], mode="nearest")
        h = torch.cat([image * 2 - 1, cond], 1)
        if not return_features:
            return self.net(h)
        feats = []
        for layer in self.net:
            h = layer(h)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(h)
        return feats + [h]


def feature_matching_loss(fake_feats: list[Tensor], real_feats: list[Tensor]) -> Tensor:
    """Mean over layers of the L1 distance between discriminator features of decoded and source images
    (pix2pixHD, Wang et al. 2018): pulls decoded texture statistics towards the source's without an
    ImageNet network (none can be had offline)."""
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats, strict=True)) / len(
        fake_feats
    )


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator hinge loss (Lim & Ye 2017): relu(1 - D(real)) + relu(1 + D(fake))."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: Tensor) -> Tensor:
    """Generator side of the hinge loss: -D(fake)."""
    return -fake_logits.mean()
