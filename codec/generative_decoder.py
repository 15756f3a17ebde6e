"""The generative decoder: DiT-IC's one-step diffusion decoding on dicodec's 32x latents (shipped).

DiT-IC (Shi et al., "DiT-IC: Aligned Diffusion Transformer for Efficient Image Compression") decodes the
entropy-decoded 32x latent with one step of a Diffusion Transformer. This module holds what decoding a
file needs (public code: Eric-qi/DiT-IC, ``models/DiT_IC.py`` and ``models/scheduler.py``); what only
training needs is in :mod:`dicodec.codec.training` (the flow-matching prior and teacher,
``flow_matching``; the loss terms, ``dit_losses``; the PatchGAN, ``discriminator``), and the weights
file is read and written by :mod:`dicodec.codec.weights_io`.

* **Variance-guided one-step reconstruction.** The decoded latent ``y_hat`` plays ``x_{t_s}`` of a
  rectified flow (``x_t = (1 - t) x0 + t eps``); the DiT predicts the velocity ``v`` at the fixed
  ``t_s`` and ``x0 = y_hat - t_s * m(u) * v`` (DiT-IC's "scale" scheduler mode), with
  ``m(u) = min(1, 0.4 + 0.6 |u| / knee)`` in [0.4, 1] so elements the entropy model is less sure of
  move further. ``u`` is either the scale the entropy model coded the element with
  (:func:`decode_with_scales`, ``uncertainty="entropy"``) or a learned log-variance head fed with it
  (``"learned"``, DiT-IC's choice); ``"none"`` sets m = 1 (ablation).
* **Latent-conditioned (text-free) guidance.** The cross-attention context is made from the decoded
  latent itself: an adaptive average pool to ``g x g`` tokens plus learned tokens, through an MLP
  (DiT-IC's ``LatentConditionAlignment``: 48 pooled + 29 learned tokens in place of 77 text tokens).
* **Own synthesis.** The pixels come from the codec's synthesis transform, frozen, or from an own copy
  (``synthesis_channels``) fine-tuned with the GAN stage, as DiT-IC fine-tunes its VAE decoder.

Two knobs, two names. ``realism`` (:func:`generative_decode`, ``dicodec.decode``, ``dicodec decode
--realism``) blends the decoded *pixels* from the fast decode (0) to the generative one (1).
``correction_scale`` (:meth:`GenerativeDecoder.refine`) scales the *latent* correction of the DiT step
(0 returns ``y_hat``); the file decode always takes the whole step, and the knob is left for
ablations (with ``dit-ic-s-v2``, a partial latent step lost PSNR *and* NIQE against both ends,
docs/history.md).

Units: the DiT works on latents normalised per channel (``latent_mean``/``latent_std`` buffers measured on
training latents, like the latent scaling factor of Stable Diffusion); all public functions take and
return raw latents in the synthesis domain (gain removed), the domain of
:meth:`ImageCodec.decompress_latent`. Measured on hp32-v3 (``scripts/latent_stats.py``, 12 crops of the
pack, 256 px): the coding error in normalised units has std 1.54 at quality 0 and 0.26 at quality 100;
``t_s = 0.61`` is the time at which flow noise matches the quality-0 error (``t / (1 - t) = 1.54``). The
normalised entropy scales have median 0.4-2.2 and 90th percentile 1.0-7.0, and ``knee = 2`` lets m run
from ~0.6 at high qualities to 1 at quality 0. (hp32-v2: error 2.24, t_s 0.69; hp32-v1: 0.68, t_s 0.4.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec import grouped_ans, precision
from dicodec.codec.dit import DIT_PRESETS, DiT, DiTConfig, timestep_embedding
from dicodec.codec.latent_codec import LatentCodec, coding_scales
from dicodec.codec.model import ImageCodec, quality_to_level
from dicodec.codec.timing import section
from dicodec.codec.transforms import DOWNSCALE, synthesis_transform
from dicodec.codec.windowed_synthesis import synthesize_in_strips
from dicodec.errors import UnavailableError

# ------------------------------------------------------------------ entropy-model uncertainty


@torch.no_grad()
def decode_with_scales(
    lc: LatentCodec,
    strings: list[bytes],
    latent_shape: tuple[int, int],
    device: torch.device,
    coder: ModuleType = grouped_ans,
) -> tuple[Tensor, Tensor]:
    """:meth:`LatentCodec.decompress` plus the coding scale of every element (both gain-scaled).

    The scales are the indexes the decode's own slice networks chose, so they cost nothing extra (they
    were recomputed from ``y_hat`` before 2026-12-02: a second hyper-synthesis, five slice networks and
    the z string's rANS again). ``tests/test_generative.py`` checks them against
    :meth:`LatentCodec.simulate_coding`, which gives training the same latents and scales.
    """
    y_hat, index = lc.decompress(strings, latent_shape, device, with_scale_index=True, coder=coder)
    return y_hat, coding_scales(index)


# ------------------------------------------------------------------ configuration

UNCERTAINTY_MODES = ("entropy", "learned", "none")


@dataclass(frozen=True)
class GenerativeConfig:
    """The one-step decoder around a :class:`~dicodec.codec.dit.DiT` (see the module docstring)."""

    dit: str = "dit-s"  # DiT preset (dicodec.codec.dit.DIT_PRESETS)
    t_s: float = 0.61  # time the decoded latent stands at; flow noise = quality-0 coding error there
    uncertainty: str = "entropy"  # entropy | learned | none: what drives m(u)
    knee: float = 2.0  # |u| (normalised units) from which m(u) = 1
    m_min: float = 0.4  # DiT-IC's floor of m(u)
    latent_condition: bool = True  # cross-attention to tokens pooled from the decoded latent
    cond_grid: int = 4  # g: g x g pooled tokens (one per 1/16 of the tile)
    cond_learned: int = 16  # learned tokens appended to the pooled ones (DiT-IC's "pattern")
    rate_embed: bool = True  # add the tile's mean log-uncertainty to the adaLN condition (ours)
    logvar_hidden: int = 64  # width of the learned log-variance head
    synthesis_channels: int = 0  # > 0: own (fine-tuned) synthesis transform of this width, else the codec's

    def to_dict(self) -> dict:
        return asdict(self)


GENERATIVE_PRESETS: dict[str, GenerativeConfig] = {
    "dit-ic-s": GenerativeConfig(),
    "dit-ic-tiny": GenerativeConfig(dit="dit-tiny", cond_grid=2, cond_learned=2, logvar_hidden=8),
}


def step_scale(u: Tensor, knee: float, m_min: float = 0.4) -> Tensor:
    """DiT-IC's uncertainty map m(u) = min(1, m_min + (1 - m_min) |u| / knee), in [m_min, 1]."""
    return torch.clamp(m_min + (1 - m_min) * u.abs() / knee, max=1.0)


# ------------------------------------------------------------------ modules


class LatentCondition(nn.Module):
    """Text-free condition tokens from the (normalised) decoded latent, for the cross-attention.

    Args:
        channels: latent channels.
        dim: width of the context tokens (the DiT's ``context_dim``).
        grid: pooled tokens per side.
        learned: extra learned tokens.
    """

    def __init__(self, channels: int, dim: int, grid: int, learned: int):
        super().__init__()
        self.grid = grid
        self.position = nn.Parameter(torch.zeros(grid * grid, channels))  # pooled tokens keep their place
        self.learned = nn.Parameter(torch.randn(learned, channels))  # unit scale, like normalised latents
        self.mlp = nn.Sequential(
            nn.Linear(channels, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )

    def forward(self, y_n: Tensor) -> Tensor:
        pooled = F.adaptive_avg_pool2d(y_n, self.grid).flatten(2).transpose(1, 2) + self.position
        tokens = torch.cat([pooled, self.learned.expand(y_n.shape[0], -1, -1)], dim=1)
        return self.mlp(tokens)


class LogVarianceHead(nn.Module):
    """Per-element log-variance from the decoded latent and the log coding scale (DiT-IC's "scale" head).

    Starts at ``u = init_u`` everywhere (output weights zero), in the middle of m's linear range.
    """

    def __init__(self, channels: int, hidden: int, init_u: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 1), nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(),
            nn.Conv2d(hidden, channels, 1),
        )  # fmt: skip
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, 2 * math.log(init_u))

    def forward(self, y_n: Tensor, u_n: Tensor | None) -> Tensor:
        log_u = torch.zeros_like(y_n) if u_n is None else torch.log(u_n.clamp_min(1e-4))
        return self.net(torch.cat([y_n, log_u], 1))


class RateEmbedding(nn.Module):
    """The tile's mean log-uncertainty (a proxy of the rate) as a second adaLN condition, zero at start."""

    def __init__(self, hidden: int, freq_dim: int = 64):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, u_n: Tensor) -> Tensor:
        s = torch.log(u_n.clamp_min(1e-4)).mean(dim=(1, 2, 3))
        return self.mlp(timestep_embedding((s + 4) / 8, self.freq_dim))  # log u in ~[-4, 4] -> [0, 1]


class GenerativeDecoder(nn.Module):
    """One-step variance-guided DiT decoder of 32x latents (DiT-IC), also the flow-matching prior.

    ``forward(y_hat, uncertainty)`` maps a decoded latent (B, M, h, w) and its per-element coding scale
    (same shape, raw latent units; may be None) to a refined latent for :meth:`ImageCodec.synthesize`.
    ``self.dit`` alone, on normalised latents and without context (:meth:`velocity`), is the prior that
    training samples from (:mod:`dicodec.codec.training.flow_matching`).

    Args:
        config: decoder options.
        dit_config: DiT architecture; default ``DIT_PRESETS[config.dit]``.
    """

    def __init__(self, config: GenerativeConfig, dit_config: DiTConfig | None = None):
        super().__init__()
        if config.uncertainty not in UNCERTAINTY_MODES:
            raise ValueError(f"uncertainty must be one of {UNCERTAINTY_MODES}")
        dc = dit_config or DIT_PRESETS[config.dit]
        if not config.latent_condition:
            dc = replace(dc, context_dim=None)
        self.config = config
        self.dit = DiT(dc)
        m = dc.in_channels
        self.register_buffer("latent_mean", torch.zeros(m))
        self.register_buffer("latent_std", torch.ones(m))
        self.condition = (
            LatentCondition(m, dc.context_dim, config.cond_grid, config.cond_learned)
            if config.latent_condition
            else None
        )
        self.logvar_head = (
            LogVarianceHead(m, config.logvar_hidden, config.knee / 2)
            if config.uncertainty == "learned"
            else None
        )
        self.rate_embed = (
            RateEmbedding(dc.hidden) if config.rate_embed and config.uncertainty != "none" else None
        )
        # Measured on hp32-v1: even clean latents synthesise to 0.06-0.34 of the source's gradient energy,
        # so texture needs a pixel decoder trained adversarially (HiFiC's generator, DiT-IC's VAE LoRA).
        self.synthesis = (
            synthesis_transform(config.synthesis_channels, m) if config.synthesis_channels else None
        )

    def set_latent_stats(self, mean: Tensor, std: Tensor) -> None:
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp_min(1e-3))

    def normalize(self, y: Tensor) -> Tensor:
        return (y - self.latent_mean.view(1, -1, 1, 1)) / self.latent_std.view(1, -1, 1, 1)

    def denormalize(self, y_n: Tensor) -> Tensor:
        return y_n * self.latent_std.view(1, -1, 1, 1) + self.latent_mean.view(1, -1, 1, 1)

    def velocity(self, x_n: Tensor, t: Tensor) -> Tensor:
        """The unconditional prior's velocity (no context, no rate): the multi-step teacher."""
        return self.dit(x_n, t)

    def refine(
        self,
        y_hat: Tensor,
        uncertainty: Tensor | None = None,
        correction_scale: float = 1.0,
        synthesize: bool = False,
    ) -> dict[str, Tensor]:
        """One step; returns ``latent`` (raw units) and, for the losses, ``x0_n`` (normalised), ``v``,
        ``m``, ``logvar`` (learned mode only) and, with ``synthesize`` and an own synthesis transform,
        ``pixels`` (unclamped, fp32).

        Args:
            y_hat: decoded latent (B, M, h, w), raw units.
            uncertainty: its per-element coding scale (same shape, raw units) or None.
            correction_scale: fraction of the DiT's latent correction applied, in [0, 1] (0: ``latent``
                is ``y_hat`` bit for bit). Not the pixel blend ``realism`` of :func:`generative_decode`.
            synthesize: also render ``pixels`` with the decoder's own synthesis transform.
        """
        if not 0.0 <= correction_scale <= 1.0:
            raise ValueError("correction_scale must be in [0, 1]")
        c = self.config
        y_n = self.normalize(y_hat)
        u_n = None if uncertainty is None else uncertainty / self.latent_std.view(1, -1, 1, 1)
        out: dict[str, Tensor] = {}
        if self.logvar_head is not None:
            out["logvar"] = self.logvar_head(y_n, u_n)
            m = step_scale(torch.exp(0.5 * out["logvar"]), c.knee, c.m_min)
        elif c.uncertainty == "entropy" and u_n is not None:
            m = step_scale(u_n, c.knee, c.m_min)
        else:
            m = torch.ones_like(y_n)
        context = self.condition(y_n) if self.condition is not None else None
        extra = self.rate_embed(u_n) if self.rate_embed is not None and u_n is not None else None
        t = torch.full((y_hat.shape[0],), c.t_s, device=y_hat.device)
        v = self.dit(y_n, t, context, extra)
        step = c.t_s * m * v  # normalised units
        # The correction is added in raw units so that correction_scale = 0 gives y_hat bit for bit.
        correction = correction_scale * step * self.latent_std.view(1, -1, 1, 1)
        out.update(latent=y_hat - correction, x0_n=y_n - step, v=v, m=m)
        if synthesize and self.synthesis is not None:
            with torch.autocast(y_hat.device.type, enabled=False):  # GDN stays in fp32
                out["pixels"] = self.synthesis(out["latent"].float())
        return out

    def forward(
        self,
        y_hat: Tensor,
        uncertainty: Tensor | None = None,
        correction_scale: float = 1.0,
        return_dict: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """Refined latent; ``return_dict=True`` gives :meth:`refine`'s dict, with ``pixels`` when the
        decoder has its own synthesis transform (so DDP sees every trained parameter in one forward)."""
        if correction_scale == 0.0 and not return_dict:
            return y_hat.clone()  # nothing to add: skip the DiT
        out = self.refine(y_hat, uncertainty, correction_scale, synthesize=return_dict)
        return out if return_dict else out["latent"]


# ------------------------------------------------------------------ decoding


@torch.no_grad()
def generative_decode(
    codec: ImageCodec,
    decoder: GenerativeDecoder,
    strings: list[bytes],
    tile_shape: tuple[int, int],
    quality: float,
    realism: float = 1.0,
    coder: ModuleType = grouped_ans,
) -> Tensor:
    """Decode one tile: entropy decoding, coding scales, one DiT step, synthesis -> (1, 3, H, W) in [0, 1].

    ``realism`` blends the pixels between the fast decode (0: exactly it, since the latent before the DiT
    step equals :meth:`ImageCodec.decompress_latent`) and the full generative decode (1: the DiT
    correction rendered by the decoder's own GAN-tuned synthesis): ``fast + realism * (generative -
    fast)``. Scaling the latent correction instead (:meth:`GenerativeDecoder.refine`'s
    ``correction_scale``) is no fidelity knob once the synthesis is fine-tuned for the refined latent
    (with ``dit-ic-s-v2``, a correction scale of 0 lost PSNR *and* NIQE against both ends);
    interpolating the outputs of a distortion- and a perception-trained decoder traces the
    perception-distortion trade-off (Blau & Michaeli 2018; network/output interpolation as in ESRGAN),
    and in between it is often above both ends in PSNR (docs/dit.md). ``coder``: the entropy coder of
    the file's bitstream version (:meth:`LatentCodec.compress`).
    """
    if codec.detail_codec is not None:
        raise UnavailableError("no generative decode for codecs with a detail layer (the DiT reads the base)")
    device = codec.log_gain.device
    latent_hw = (tile_shape[0] // DOWNSCALE, tile_shape[1] // DOWNSCALE)
    y_hat, sigma = decode_with_scales(codec.latent_codec, strings, latent_hw, device, coder)
    return generative_pixels(codec, decoder, y_hat, sigma, quality, realism)


@torch.no_grad()
def generative_pixels(
    codec: ImageCodec,
    decoder: GenerativeDecoder,
    y_hat: Tensor,
    sigma: Tensor,
    quality: float,
    realism: float = 1.0,
) -> Tensor:
    """:func:`generative_decode` after the entropy decoding: an entropy-decoded latent to pixels.

    ``y_hat`` and ``sigma`` are what :func:`decode_with_scales` returns (gain-scaled; (1, M, h, w)), so
    any decoder that has a latent and its coding scales (a video frame,
    :mod:`dicodec.codec.video.framewise`) gets exactly an image's generative decode. Returns (1, 3, H,
    W) in [0, 1] on the codec's device; ``realism`` as in :func:`generative_decode`.
    """
    device = codec.log_gain.device
    _, inverse_gain = codec.gains(quality_to_level(quality, codec.config.levels).to(device))
    latent = y_hat * inverse_gain
    if realism == 0.0:
        return codec.synthesize(latent)
    dec_device = decoder.latent_std.device
    with section("dit"):
        refined = decoder(latent.to(dec_device), (sigma * inverse_gain).to(dec_device))  # the whole step
    if decoder.synthesis is None:
        pixels = codec.synthesize(refined.to(device))
    else:  # the decoder's own synthesis, in the arithmetic codec.synthesize would use (precision.py)
        synthesis = decoder.synthesis
        if precision.effective_precision(refined.device) == "bfloat16":
            synthesis = precision.bfloat16_transform(synthesis)
        with section("network"):
            pixels = synthesize_in_strips(synthesis, refined).float().clamp_(0, 1).to(device)
    if realism == 1.0:
        return pixels
    fast = codec.synthesize(latent)
    return fast.add_(pixels.sub_(fast).mul_(realism)).clamp_(0, 1)
