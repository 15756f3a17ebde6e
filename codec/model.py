"""The 32x variable-rate hyperprior image codec (the fast, non-generative path of dicodec).

Contract (CompressAI's): ``forward(x, quality) -> {"x_hat", "likelihoods"}`` for training,
``update()`` once after training, ``compress(x, quality) -> strings``, ``decompress(strings, shape,
quality) -> x_hat``. ``x`` here is one tile whose sides are multiples of 32 (:data:`DOWNSCALE`); the
hyper-latent grid rounds up when the latent is not a multiple of 4. Padding and tiling of whole images
live in :mod:`dicodec.codec.pipeline`.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType

import torch
from torch import Tensor, nn

from dicodec.codec import grouped_ans, precision
from dicodec.codec.config import CodecConfig
from dicodec.codec.latent_codec import LatentCodec
from dicodec.codec.lean_synthesis import lean_synthesis
from dicodec.codec.timing import section
from dicodec.codec.transforms import DOWNSCALE, analysis_transform, synthesis_reach, synthesis_transform
from dicodec.codec.windowed_synthesis import HALO, synthesize_in_strips

PAD_MULTIPLE = DOWNSCALE * 4  # bitstream 1.x pads tiles to whole hyper-latents (z is 4x coarser than y)


def quality_to_level(quality: float | Tensor, levels: int) -> Tensor:
    """Map quality 0..100 to a continuous gain level 0..levels-1."""
    q = torch.as_tensor(quality, dtype=torch.float32)
    return torch.clamp(q, 0, 100) / 100.0 * (levels - 1)


class ImageCodec(nn.Module):
    """Analysis transform, gain units, latent codec and synthesis transform.

    Args:
        config: architecture (see :class:`~dicodec.codec.config.CodecConfig`).
    """

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        m = config.latent_channels
        shape = (config.channels, m, config.refine_blocks, config.residual_shortcuts, config.coarse_blocks,
                 config.detail_channels)  # fmt: skip
        self.analysis = analysis_transform(*shape)
        self.synthesis = synthesis_transform(*shape)
        self.latent_codec = LatentCodec(m, config.hyper_channels, config.num_slices, config.slice_hidden)
        # The detail layer's channels (codec/detail_layer.py) have their own hyperprior and slices: the
        # base latent's strings are coded exactly as without it.
        self.detail_codec = (
            LatentCodec(
                config.coded_channels - m,
                config.detail_hyper_channels,
                config.detail_slices,
                config.detail_slice_hidden,
            )
            if config.detail_channels
            else None
        )
        m = config.coded_channels
        # Gains start at (lambda / lambda_mid)^(1/2): the MSE-optimal quantization step scales as
        # lambda^(-1/2), so this is where training would move them first.
        lam = self.level_lambdas()
        init = 0.5 * torch.log(lam / lam[len(lam) // 2])
        self.log_gain = nn.Parameter(init.view(-1, 1).repeat(1, m).clone())
        self.log_inverse_gain = nn.Parameter(-init.view(-1, 1).repeat(1, m).clone())
        # Training only: autocast dtype of the two transforms (the entropy model always runs in fp32;
        # its fake-quantized fixed-point arithmetic needs it). Not saved; decoding runs in fp32.
        self.amp_dtype: torch.dtype | None = None

    def level_lambdas(self) -> Tensor:
        c = self.config
        t = torch.linspace(0, 1, c.levels, dtype=torch.float64)
        return torch.exp(
            math.log(c.lambda_min) + t * (math.log(c.lambda_max) - math.log(c.lambda_min))
        ).float()

    def lambda_at(self, level: Tensor) -> Tensor:
        """Rate-distortion trade-off at a continuous level (log-linear between levels)."""
        c = self.config
        t = level / max(c.levels - 1, 1)
        return torch.exp(math.log(c.lambda_min) + t * (math.log(c.lambda_max) - math.log(c.lambda_min)))

    def _interp(self, table: Tensor, level: Tensor) -> Tensor:
        level = level.to(table.device).reshape(-1).float()
        lo = torch.clamp(level.floor().long(), 0, self.config.levels - 1)
        hi = torch.clamp(lo + 1, max=self.config.levels - 1)
        frac = (level - lo.float()).unsqueeze(1)
        return torch.exp((1 - frac) * table[lo] + frac * table[hi]).unsqueeze(-1).unsqueeze(-1)

    def gains(self, level: Tensor) -> tuple[Tensor, Tensor]:
        """Per-channel gain and inverse gain, shaped (B, M, 1, 1), for continuous levels (B,)."""
        return self._interp(self.log_gain, level), self._interp(self.log_inverse_gain, level)

    def forward(self, x: Tensor, level: Tensor, noisy_rate: bool = True) -> dict:
        """Training pass on a batch of crops with one continuous level per sample (``noisy_rate``:
        see :meth:`LatentCodec.forward`)."""
        gain, inverse_gain = self.gains(level)
        dtype = self.amp_dtype or torch.float32
        amp = torch.autocast(x.device.type, dtype=dtype, enabled=self.amp_dtype is not None)
        with amp:
            y = self.analysis(x)
        y = y.float() * gain
        out = self.code_latent(y, noisy_rate=noisy_rate)
        with amp:
            x_hat = self.synthesis(out["y_hat"] * inverse_gain)
        return {
            "x_hat": x_hat.float(),
            "likelihoods": out["likelihoods"],
            "scale_excess": out["scale_excess"],
        }

    def latent_codecs(self) -> list[LatentCodec]:
        """The entropy models, base latent's first (with a detail layer, then the detail layer's)."""
        return [self.latent_codec] + ([self.detail_codec] if self.detail_codec is not None else [])

    def split_latent(self, y: Tensor) -> list[Tensor]:
        """The coded latent's channels per entropy model of :meth:`latent_codecs`."""
        if self.detail_codec is None:
            return [y]
        m = self.config.latent_channels
        return [y[:, :m], y[:, m:]]

    def code_latent(
        self, y: Tensor, noisy_rate: bool = True, codecs: list[LatentCodec] | None = None
    ) -> dict:
        """:meth:`LatentCodec.forward` over the whole coded latent: with a detail layer, its channels
        go through their own entropy model and the likelihoods gain ``y_detail`` and ``z_detail``.
        ``codecs``: stand-ins for :meth:`latent_codecs` (the float twins of encoder-side refinement)."""
        codecs = codecs or self.latent_codecs()
        if len(codecs) == 1:
            return codecs[0](y, noisy_rate=noisy_rate)
        parts = zip(codecs, self.split_latent(y), strict=True)
        base, detail = (lc(part, noisy_rate=noisy_rate) for lc, part in parts)
        likelihoods = dict(base["likelihoods"])
        likelihoods.update({f"{k}_detail": v for k, v in detail["likelihoods"].items()})
        return {
            "y_hat": torch.cat([base["y_hat"], detail["y_hat"]], 1),
            "likelihoods": likelihoods,
            "scale_excess": base["scale_excess"] + detail["scale_excess"],
        }

    def aux_loss(self) -> Tensor:
        return sum(lc.aux_loss() for lc in self.latent_codecs())

    def update(self) -> None:
        """Freeze the integer entropy-parameter networks and CDF tables."""
        for lc in self.latent_codecs():
            lc.update()

    # ------------------------------------------------------------------ coding of one tile
    def _check_tile(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ValueError(f"expected a (1, 3, H, W) tile, got {tuple(x.shape)}")
        if x.shape[-2] % DOWNSCALE or x.shape[-1] % DOWNSCALE:
            raise ValueError(f"tile sides must be multiples of {DOWNSCALE}, got {tuple(x.shape[-2:])}")

    @torch.no_grad()
    def compress(
        self, x: Tensor, quality: float, coder: ModuleType = grouped_ans, refine_steps: int = 0
    ) -> list[bytes]:
        """Code one tile (1, 3, H, W) in [0, 1]; returns ``[z, y_0, ..., y_{S-1}]`` strings, a detail
        layer's ``[z, y_0, ...]`` after them (``coder``:
        the entropy coder of the bitstream version, see :meth:`LatentCodec.compress`).
        ``refine_steps`` > 0 fits the latent to the tile first
        (:mod:`~dicodec.codec.latent_refinement`): same format, fewer bits for the same quality."""
        self._check_tile(x)
        level = quality_to_level(quality, self.config.levels).to(x.device).reshape(1)
        gain, inverse_gain = self.gains(level)
        with section("network"):
            y = self.analyze(x) * gain
        if refine_steps > 0:
            from dicodec.codec.latent_refinement import refine_latent

            with section("refinement"):
                y = refine_latent(self, x, y, inverse_gain, self.lambda_at(level), refine_steps)
        parts = zip(self.latent_codecs(), self.split_latent(y), strict=True)
        return [string for lc, part in parts for string in lc.compress(part, coder)]

    @torch.no_grad()
    def decompress_latent(
        self,
        strings: list[bytes],
        tile_shape: tuple[int, int],
        quality: float,
        coder: ModuleType = grouped_ans,
    ) -> Tensor:
        """Entropy-decode one tile's latent, gain removed: what both decode modes start from."""
        h, w = tile_shape[0] // DOWNSCALE, tile_shape[1] // DOWNSCALE
        device = self.log_gain.device
        if self.detail_codec is None:
            y_hat = self.latent_codec.decompress(strings, (h, w), device, coder=coder)
        else:  # [z, base slices..., z_detail, detail slices...]
            cut = 1 + self.config.num_slices
            base = self.latent_codec.decompress(strings[:cut], (h, w), device, coder=coder)
            detail = self.detail_codec.decompress(strings[cut:], (h, w), device, coder=coder)
            y_hat = torch.cat([base, detail], 1)
        _, inverse_gain = self.gains(quality_to_level(quality, self.config.levels).to(device))
        return y_hat * inverse_gain

    def analyze(self, x: Tensor) -> Tensor:
        """``analysis(x)`` in the arithmetic of the enclosing
        :func:`~dicodec.codec.precision.transform_precision` (default: the release's float32). Encoder
        side only: whatever latent it gives is coded exactly, so bfloat16 changes no format."""
        if precision.effective_precision(x.device) == "bfloat16":
            return precision.bfloat16_transform(self.analysis)(x)
        return self.analysis(x)

    @torch.no_grad()
    def synthesize(self, latent: Tensor) -> Tensor:
        """Fast (non-generative) decode of a latent to pixels in [0, 1], in the arithmetic of the
        enclosing :func:`~dicodec.codec.precision.transform_precision` (default: the release's float32)."""
        dtype = next(self.synthesis.parameters()).dtype
        halo = HALO + synthesis_reach(self.config.coarse_blocks)
        if precision.effective_precision(latent.device) == "bfloat16":
            synthesis = precision.bfloat16_transform(self.synthesis)
            dtype = torch.float32
        else:
            synthesis = functools.partial(lean_synthesis, self.synthesis)  # forward's pixels, fewer passes
        with section("network"):  # large tiles in strips: bounded peak memory, same pixels
            return synthesize_in_strips(synthesis, latent.to(dtype), halo).float().clamp_(0, 1)

    @torch.no_grad()
    def decompress(
        self,
        strings: list[bytes],
        tile_shape: tuple[int, int],
        quality: float,
        coder: ModuleType = grouped_ans,
    ) -> Tensor:
        """Decode one tile to (1, 3, H, W) pixels in [0, 1]."""
        return self.synthesize(self.decompress_latent(strings, tile_shape, quality, coder))
