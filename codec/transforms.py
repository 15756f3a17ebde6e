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
``coarse_blocks`` add more of them at 1/16 and on the 1/32 latent itself, where they cost the least
arithmetic per parameter.

Presets with ``residual_shortcuts`` add DC-AE's residual autoencoding (Chen et al., ICLR 2025; see
:mod:`dicodec.codec.residual_autoencoding`): every stride-2 stage, together with the GDN or IGDN after
its convolution, learns a residual over a parameter-free space-to-channel (down) or channel-to-space
(up) rearrangement of its input. Their gates start at zero too, with the same warm-start property.

These transforms run in ordinary floating point: they never choose a CDF, so small device differences
only move pixels, never break decoding.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec.detail_layer import DetailAnalysis, DetailSynthesis
from dicodec.codec.residual_autoencoding import ResidualShortcut

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
    plain transform load unchanged), with refinement blocks after some of them under ``refine.<index>``
    (``refine.input``: before the first layer) and gated residual-autoencoding shortcuts around the
    stride-2 stages under ``shortcut.<index of the stage's first layer>``
    (:mod:`dicodec.codec.residual_autoencoding`). A stage's shortcut is added to the output of its last
    layer, before any refinement block that follows it.

    ``detail`` (:mod:`dicodec.codec.detail_layer`) works at layer ``detail_at`` (after its refinement
    blocks): an analysis branch reads the features there and its packed latent is appended to the
    output's channels; a synthesis branch (``base_channels`` set: the input's first channels are the
    base latent, the rest the packed detail latent) adds its residual to the features there."""

    def __init__(
        self,
        layers: list[nn.Module],
        refine: dict[int | str, nn.Module],
        shortcuts: tuple[ResidualShortcut, ...] = (),
        detail: nn.Module | None = None,
        detail_at: int = -1,
        base_channels: int | None = None,
    ):
        super().__init__()
        self.num_layers = len(layers)
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)
        self.refine = nn.ModuleDict({str(i): block for i, block in refine.items()})
        if shortcuts:
            self.shortcut = nn.ModuleDict({str(s.start): s for s in shortcuts})
        self._ends = {s.end: str(s.start) for s in shortcuts}
        self.detail = detail
        self._detail_at = detail_at if detail is not None else -1
        self._base_channels = base_channels

    def forward(self, x: Tensor) -> Tensor:
        packed = None
        if self.detail is not None and self._base_channels is not None:
            x, packed = x[:, : self._base_channels], x[:, self._base_channels :]
        if "input" in self.refine:
            x = self.refine["input"](x)
        stage_input = x
        for i in range(self.num_layers):
            key = str(i)
            if self._ends and key in self.shortcut:
                stage_input = x
            x = self._modules[key](x)
            if i in self._ends:
                x = self.shortcut[self._ends[i]](x, stage_input)
            if key in self.refine:
                x = self.refine[key](x)
            if i == self._detail_at:
                if packed is None:
                    packed = self.detail(x)  # analysis: read here, appended at the end
                else:
                    x = x + self.detail(packed)
        if packed is not None and self._base_channels is None:
            x = torch.cat([x, packed.to(x.dtype)], 1)
        return x


def _assemble(
    layers: list[nn.Module],
    refine: dict[int | str, tuple[int, int]],
    stages: tuple[tuple[int, int, int, int], ...],
    up: bool,
    shortcuts: bool,
    detail: tuple[nn.Module, int, int | None] | None = None,
) -> nn.Module:
    """``refine``: position -> (channels, number of ConvNeXt blocks); ``stages``: (first layer, last
    layer, input channels, output channels) of each stride-2 stage, shortcut when ``shortcuts``;
    ``detail``: (branch, layer, base channels of a synthesis input), see :class:`RefinedTransform`."""
    refine = {i: (c, k) for i, (c, k) in refine.items() if k > 0}
    if not refine and not shortcuts and detail is None:
        return nn.Sequential(*layers)  # the released layout: analysis.0.weight, ...
    blocks = {i: nn.Sequential(*(ConvNeXtBlock(c) for _ in range(k))) for i, (c, k) in refine.items()}
    gated = tuple(ResidualShortcut(cin, cout, up, a, b) for a, b, cin, cout in stages) if shortcuts else ()
    branch, at, base = detail if detail is not None else (None, -1, None)
    return RefinedTransform(layers, blocks, gated, branch, at, base)


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def analysis_transform(
    channels: int,
    latent_channels: int,
    refine_blocks: int = 0,
    residual_shortcuts: bool = False,
    coarse_blocks: int = 0,
    detail_channels: int = 0,
) -> nn.Module:
    """RGB in [0, 1], (B, 3, H, W) -> latent (B, M, H/32, W/32) (with a detail layer: (B, M + 4D, ...)).

    Args:
        channels: width N of the stages.
        latent_channels: channels M of the latent.
        refine_blocks: ConvNeXt blocks at 1/4, 1/8 and 1/16.
        residual_shortcuts: DC-AE shortcuts (zero-gated) around each stride-2 stage and its GDN.
        coarse_blocks: further ConvNeXt blocks at 1/16 and on the 1/32 latent.
        detail_channels: D of a detail layer read at 1/8 (:mod:`dicodec.codec.detail_layer`), 0: none.
    """
    n, m = channels, latent_channels
    layers = [
        _down(3, n), GDN(n),
        _down(n, n), GDN(n),                     # 3: 1/4
        _down(n, n), GDN(n), ResidualBlock(n),   # 6: 1/8
        _down(n, n), GDN(n), ResidualBlock(n),   # 9: 1/16
        _down(n, m),                             # 10: 1/32
    ]  # fmt: skip
    refine = {3: (n, refine_blocks), 6: (n, refine_blocks), 9: (n, refine_blocks + coarse_blocks),
              10: (m, coarse_blocks)}  # fmt: skip
    stages = ((0, 1, 3, n), (2, 3, n, n), (4, 5, n, n), (7, 8, n, n), (10, 10, n, m))
    detail = (DetailAnalysis(n, detail_channels), 6, None) if detail_channels else None
    return _assemble(layers, refine, stages, up=False, shortcuts=residual_shortcuts, detail=detail)


def synthesis_transform(
    channels: int,
    latent_channels: int,
    refine_blocks: int = 0,
    residual_shortcuts: bool = False,
    coarse_blocks: int = 0,
    detail_channels: int = 0,
) -> nn.Module:
    """Latent (B, M, h, w) -> RGB (B, 3, 32h, 32w), unclamped (arguments as :func:`analysis_transform`'s,
    with the IGDN of each stage inside its shortcut; a detail layer's residual joins at 1/8)."""
    n, m = channels, latent_channels
    layers = [
        _up(m, n), GDN(n, inverse=True), ResidualBlock(n),   # 2: 1/16
        _up(n, n), GDN(n, inverse=True), ResidualBlock(n),   # 5: 1/8
        _up(n, n), GDN(n, inverse=True),                     # 7: 1/4
        _up(n, n), GDN(n, inverse=True),
        _up(n, 3),
    ]  # fmt: skip
    refine = {"input": (m, coarse_blocks), 2: (n, refine_blocks + coarse_blocks), 5: (n, refine_blocks),
              7: (n, refine_blocks)}  # fmt: skip
    stages = ((0, 1, m, n), (3, 4, n, n), (6, 7, n, n), (8, 9, n, n), (10, 10, n, 3))
    detail = (DetailSynthesis(n, detail_channels), 5, m) if detail_channels else None
    return _assemble(layers, refine, stages, up=True, shortcuts=residual_shortcuts, detail=detail)


def synthesis_reach(coarse_blocks: int) -> int:
    """Latent rows that ``coarse_blocks`` add to the synthesis' receptive field on each side: a 7x7
    depthwise convolution reads 3 rows, at 1/32 3 latent rows, at 1/16 1.5 (the windowed decode's halo,
    :mod:`dicodec.codec.windowed_synthesis`, grows by this)."""
    return 3 * coarse_blocks + math.ceil(1.5 * coarse_blocks)
