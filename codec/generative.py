"""The generative decoder: DiT-IC's one-step diffusion decoding on dicodec's 32x latents.

DiT-IC (Shi et al., "DiT-IC: Aligned Diffusion Transformer for Efficient Image Compression") decodes the
entropy-decoded 32x latent with one step of a Diffusion Transformer. This module maps its pieces onto
dicodec (public code: Eric-qi/DiT-IC, ``models/DiT_IC.py`` and ``models/scheduler.py``):

* **Prior / multi-step teacher.** A DiT trained by rectified flow (Liu et al., "Flow Straight and Fast",
  ICLR 2023; Lipman et al., "Flow Matching", ICLR 2023) on the clean encoder latents of the frozen
  :class:`~dicodec.codec.model.ImageCodec`: ``x_t = (1 - t) x0 + t eps``, the network regresses the
  velocity ``v = eps - x0`` (:func:`flow_matching_loss`), and :func:`euler_sample` integrates
  ``dx/dt = v`` from noise (or from a noised decoded latent, SDEdit) back to ``t = 0``. DiT-IC adapts
  SANA-600M instead; we have no such weights offline, so the prior is ours.
* **Variance-guided one-step reconstruction.** The decoded latent ``y_hat`` plays ``x_{t_s}``; the DiT
  predicts ``v`` at the fixed ``t_s`` and ``x0 = y_hat - t_s * m(u) * v`` (DiT-IC's "scale" scheduler
  mode), with ``m(u) = min(1, 0.4 + 0.6 |u| / knee)`` in [0.4, 1] so elements the entropy model is less
  sure of move further. ``u`` is either the scale the entropy model coded the element with
  (:func:`decode_with_scales`, ``uncertainty="entropy"``) or a learned log-variance head fed with it
  (``"learned"``, DiT-IC's choice); ``"none"`` sets m = 1 (ablation). ``realism`` in [0, 1] scales the
  latent correction here (0 returns ``y_hat`` unchanged); :func:`generative_decode`'s ``realism``
  instead blends the decoded pixels, fast to generative.
* **Latent-conditioned (text-free) guidance.** The cross-attention context is made from the decoded
  latent itself: an adaptive average pool to ``g x g`` tokens plus learned tokens, through an MLP
  (DiT-IC's ``LatentConditionAlignment``: 48 pooled + 29 learned tokens in place of 77 text tokens).
* **Self-distillation alignment.** ``relu(1 - margin - cos(x0_pred, x0_enc))`` per latent position with
  DiT-IC's margin 0.5 (:func:`alignment_loss`), plus a regression onto the multi-step teacher
  (:func:`distillation_loss`).
* **Pixel losses** for stage 2: MSE and MS-SSIM on ``synthesis(x0)`` and a conditional PatchGAN with a
  hinge loss (HiFiC, Mentzer et al., NeurIPS 2020). The synthesis is the codec's, frozen, or an own copy
  (``synthesis_channels``) fine-tuned with them, as DiT-IC fine-tunes its VAE decoder with LoRA.

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

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec import grouped_ans
from dicodec.codec.dit import DIT_PRESETS, DiT, DiTConfig, timestep_embedding
from dicodec.codec.fixed_point import quantize_activation_exact
from dicodec.codec.latent_codec import _ONE, SYMBOL_LIMIT, LatentCodec, scale_table
from dicodec.codec.model import ImageCodec, quality_to_level
from dicodec.codec.timing import section
from dicodec.codec.transforms import DOWNSCALE, synthesis_transform
from dicodec.codec.windowed_synthesis import synthesize_in_strips

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pytorch_msssim import ms_ssim

VelocityFn = Callable[[Tensor, Tensor], Tensor]

# ------------------------------------------------------------------ entropy-model uncertainty


def _hyper_int(lc: LatentCodec, z_symbols: Tensor, h: int, w: int) -> Tensor:
    z = quantize_activation_exact(z_symbols + lc._z_medians(z_symbols.device))
    return lc.hyper_synthesis.forward_exact(z)[..., :h, :w]


def _table_scales(index: Tensor) -> Tensor:
    return scale_table().to(index.device)[index.long()]


@torch.no_grad()
def simulate_coding(lc: LatentCodec, y: Tensor) -> tuple[Tensor, Tensor]:
    """Decoded latent and coding scale of a batch of gain-scaled latents, without the range coder.

    Runs the integer arithmetic of :meth:`LatentCodec.compress` on a batch, so ``y_hat`` is what
    :meth:`LatentCodec.decompress` returns for those strings (up to float rounding of the encoder-only
    hyper-analysis), and ``sigma`` (same shape) is the scale-table entry each element was coded with.
    Needs a frozen codec (``update()`` or loaded weights).
    """
    z_symbols = torch.round(lc.hyper_analysis(y.float()) - lc._z_medians(y.device))
    hyper = _hyper_int(lc, z_symbols, *y.shape[-2:])
    context: list[Tensor] = []
    y_hat, sigma = [], []
    for i, y_i in enumerate(y.chunk(lc.num_slices, 1)):
        mean_int, index = lc._slice_params(i, hyper, context)
        symbols = torch.round(y_i.double() - mean_int / _ONE).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
        context.append(lc._next_context(symbols, mean_int))
        y_hat.append(symbols + mean_int / _ONE)
        sigma.append(_table_scales(index))
    return torch.cat(y_hat, 1).float(), torch.cat(sigma, 1)


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
    the z string's rANS again). ``tests/test_generative.py`` checks them against :func:`simulate_coding`.
    """
    y_hat, index = lc.decompress(strings, latent_shape, device, with_scale_index=True, coder=coder)
    return y_hat, _table_scales(index)


@torch.no_grad()
def codec_latents(codec: ImageCodec, x: Tensor, level: Tensor, coded: bool = True) -> dict[str, Tensor]:
    """Training latents of a batch of crops at continuous gain levels, in the synthesis domain.

    Returns ``clean`` (the encoder latent ``analysis(x) * gain * inverse_gain``: what synthesis would get
    without quantisation) and, if ``coded``, ``y_hat`` (what the decoder gets) and ``sigma`` (coding
    scales), each (B, M, h, w).
    """
    gain, inverse_gain = codec.gains(level)
    y = codec.analysis(x) * gain
    out = {"clean": y * inverse_gain}
    if coded:
        y_hat, sigma = simulate_coding(codec.latent_codec, y)
        out.update(y_hat=y_hat * inverse_gain, sigma=sigma * inverse_gain)
    return out


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

    ``forward(y_hat, uncertainty, realism)`` maps a decoded latent (B, M, h, w) and its per-element
    coding scale (same shape, raw latent units; may be None) to a refined latent for
    :meth:`ImageCodec.synthesize`. ``self.dit`` alone, on normalised latents and without context, is the
    prior.

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
        self, y_hat: Tensor, uncertainty: Tensor | None = None, realism: float = 1.0, synthesize: bool = False
    ) -> dict[str, Tensor]:
        """One step; returns ``latent`` (raw units) and, for the losses, ``x0_n`` (normalised), ``v``,
        ``m``, ``logvar`` (learned mode only) and, with ``synthesize`` and an own synthesis transform,
        ``pixels`` (unclamped, fp32)."""
        if not 0.0 <= realism <= 1.0:
            raise ValueError("realism must be in [0, 1]")
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
        # The correction is added in raw units so that realism = 0 gives y_hat bit for bit.
        out.update(
            latent=y_hat - realism * step * self.latent_std.view(1, -1, 1, 1), x0_n=y_n - step, v=v, m=m
        )
        if synthesize and self.synthesis is not None:
            with torch.autocast(y_hat.device.type, enabled=False):  # GDN stays in fp32
                out["pixels"] = self.synthesis(out["latent"].float())
        return out

    def forward(
        self,
        y_hat: Tensor,
        uncertainty: Tensor | None = None,
        realism: float = 1.0,
        return_dict: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """Refined latent; ``return_dict=True`` gives :meth:`refine`'s dict, with ``pixels`` when the
        decoder has its own synthesis transform (so DDP sees every trained parameter in one forward)."""
        if realism == 0.0 and not return_dict:
            return y_hat.clone()  # nothing to add: skip the DiT
        out = self.refine(y_hat, uncertainty, realism, synthesize=return_dict)
        return out if return_dict else out["latent"]


# ------------------------------------------------------------------ flow matching (prior and teacher)


def sample_times(n: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
    """Logit-normal times (SD3, Esser et al. 2024, Sec. 3.1): training weight on the middle of the path."""
    return torch.sigmoid(torch.randn(n, device=device, generator=generator))


def flow_matching_targets(
    x0: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_t, t, v)`` of rectified flow: x_t = (1 - t) x0 + t eps, v = dx_t/dt = eps - x0."""
    noise = torch.randn(x0.shape, device=x0.device, generator=generator, dtype=x0.dtype)
    t = sample_times(x0.shape[0], x0.device, generator)
    tt = t.view(-1, 1, 1, 1)
    return (1 - tt) * x0 + tt * noise, t, noise - x0


def flow_matching_loss(
    velocity_fn: VelocityFn, x0: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Conditional flow-matching loss E ||v_theta(x_t, t) - (eps - x0)||^2 (Lipman et al. 2023, Eq. 23)."""
    x_t, t, v = flow_matching_targets(x0, generator)
    return F.mse_loss(velocity_fn(x_t, t).float(), v.float())


@torch.no_grad()
def euler_sample(
    velocity_fn: VelocityFn, x: Tensor, t_start: float = 1.0, steps: int = 32, t_end: float = 0.0
) -> Tensor:
    """Integrate dx/dt = v from ``t_start`` to ``t_end`` with ``steps`` uniform Euler steps."""
    ts = torch.linspace(t_start, t_end, steps + 1, device=x.device)
    for a, b in zip(ts[:-1], ts[1:], strict=True):
        x = x + (b - a) * velocity_fn(x, a.expand(x.shape[0]))
    return x


@torch.no_grad()
def prior_sample(
    decoder: GenerativeDecoder,
    num: int,
    latent_hw: tuple[int, int],
    steps: int = 32,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``num`` raw latents from the flow-matching prior (pure noise at t = 1 -> t = 0)."""
    device = decoder.latent_std.device
    shape = (num, decoder.latent_std.numel(), *latent_hw)
    noise = torch.randn(shape, device=device, generator=generator)
    return decoder.denormalize(euler_sample(decoder.velocity, noise, 1.0, steps))


@torch.no_grad()
def teacher_refine(
    teacher: GenerativeDecoder, y_n: Tensor, t_s: float, steps: int, generator: torch.Generator | None = None
) -> Tensor:
    """Multi-step teacher: noise the normalised decoded latent to ``t_s`` and integrate the prior back to
    0 (SDEdit, Meng et al., ICLR 2022). Returns normalised latents."""
    noise = torch.randn(y_n.shape, device=y_n.device, generator=generator, dtype=y_n.dtype)
    return euler_sample(teacher.velocity, (1 - t_s) * y_n + t_s * noise, t_s, steps)


# ------------------------------------------------------------------ losses


def alignment_loss(x0_pred: Tensor, x0_encoder: Tensor, margin: float = 0.5) -> Tensor:
    """DiT-IC's self-distillation alignment: mean of relu(1 - margin - cos) over latent positions, the
    cosine taken across channels between the one-step output and the encoder latent (normalised units)."""
    return F.relu(1 - margin - F.cosine_similarity(x0_pred.float(), x0_encoder.float(), dim=1)).mean()


def distillation_loss(x0_pred: Tensor, x0_teacher: Tensor) -> Tensor:
    """Regression of the one-step output onto the multi-step teacher's (normalised units)."""
    return F.mse_loss(x0_pred.float(), x0_teacher.float())


def gaussian_nll(logvar: Tensor, error: Tensor) -> Tensor:
    """Heteroscedastic Gaussian NLL, an optional direct target for the learned log-variance head."""
    return 0.5 * (logvar + error.pow(2) * torch.exp(-logvar)).mean()


def distortion_loss(x_hat: Tensor, x: Tensor, w_mse: float, w_msssim: float) -> dict[str, Tensor]:
    """``w_mse * MSE + w_msssim * (1 - MS-SSIM)`` on images in [0, 1]; MS-SSIM needs sides > 160 px."""
    mse = F.mse_loss(x_hat.float(), x)
    out = {"mse": mse, "psnr": 10 * torch.log10(1 / mse.detach().clamp_min(1e-10))}
    loss = w_mse * mse
    if w_msssim > 0:
        out["msssim"] = ms_ssim(x_hat.float().clamp(0, 1), x, data_range=1.0)
        loss = loss + w_msssim * (1 - out["msssim"])
    out["distortion"] = loss
    return out


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


# ------------------------------------------------------------------ decoding and files


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
    fast)``. Scaling only the latent correction is no fidelity knob once the synthesis is fine-tuned for
    the refined latent (with ``dit-ic-s-v2`` realism 0 that way lost PSNR *and* NIQE against both ends);
    interpolating the outputs of a distortion- and a perception-trained decoder traces the
    perception-distortion trade-off (Blau & Michaeli 2018; network/output interpolation as in ESRGAN),
    and in between it is often above both ends in PSNR (docs/dit.md). ``coder``: the entropy coder of
    the file's bitstream version (:meth:`LatentCodec.compress`).
    """
    device = codec.log_gain.device
    latent_hw = (tile_shape[0] // DOWNSCALE, tile_shape[1] // DOWNSCALE)
    y_hat, sigma = decode_with_scales(codec.latent_codec, strings, latent_hw, device, coder)
    _, inverse_gain = codec.gains(quality_to_level(quality, codec.config.levels).to(device))
    latent = y_hat * inverse_gain
    if realism == 0.0:
        return codec.synthesize(latent)
    dec_device = decoder.latent_std.device
    with section("dit"):
        refined = decoder(latent.to(dec_device), (sigma * inverse_gain).to(dec_device), 1.0)
    if decoder.synthesis is None:
        pixels = codec.synthesize(refined.to(device))
    else:
        with section("network"):
            pixels = synthesize_in_strips(decoder.synthesis, refined).float().clamp_(0, 1).to(device)
    if realism == 1.0:
        return pixels
    fast = codec.synthesize(latent)
    return fast.add_(pixels.sub_(fast).mul_(realism)).clamp_(0, 1)


DECODER_ARCH = "dicodec.GenerativeDecoder"
_FP32_KEYS = ("latent_mean", "latent_std")  # normalisation statistics stay exact


def save_decoder(decoder: GenerativeDecoder, path: str | Path, name: str, extra: dict | None = None) -> str:
    """Write the decoder as fp16 safetensors with arch/config metadata; returns the file's sha256."""
    from safetensors.torch import save_file

    from dicodec import __version__
    from dicodec.codec.weights_io import sha256_file

    state = {
        k: (v.detach().cpu().float() if k in _FP32_KEYS else v.detach().cpu().half()).contiguous()
        for k, v in decoder.state_dict().items()
    }
    metadata = {
        "arch": DECODER_ARCH,
        "name": name,
        "config": json.dumps(decoder.config.to_dict(), sort_keys=True),
        "dit_config": json.dumps(decoder.dit.config.to_dict(), sort_keys=True),
        "dicodec_version": __version__,
    }
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    save_file(state, str(path), metadata=metadata)
    return sha256_file(path)


def load_decoder_file(
    path: str | Path, expected_sha256: str | None = None, device: torch.device | str | None = None
) -> GenerativeDecoder:
    """Build a :class:`GenerativeDecoder` from a file written by :func:`save_decoder` (hash-checked;
    ``device``: where the file's tensors go, as in ``weights_io.load_fp32_state``)."""
    from safetensors.torch import load_file

    from dicodec.codec.weights_io import load_fp32_state, no_init, read_metadata, sha256_file
    from dicodec.errors import ModelError, WeightsMismatch

    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise WeightsMismatch(f"{Path(path).name}: sha256 differs from the expected one")
    meta = read_metadata(path)
    if meta.get("arch") != DECODER_ARCH:
        raise ModelError(f"{Path(path).name}: architecture {meta.get('arch')!r} is not {DECODER_ARCH!r}")
    config = GenerativeConfig(**json.loads(meta["config"]))
    with no_init():  # every tensor comes from the file (strict load)
        decoder = GenerativeDecoder(config, DiTConfig(**json.loads(meta["dit_config"])))
    load_fp32_state(decoder, load_file(str(path)), device=device)
    return decoder.eval()
