"""The video DiT of GNVC-VD's latent refinement, and its conditioning adaptor.

GNVC-VD (Mao et al., "Generative Neural Video Compression via Video Diffusion Prior", arXiv 2512.05016)
refines a group of decoded latents jointly with a video Diffusion Transformer, so that the detail a
generative prior adds is consistent from frame to frame (per-frame image priors flicker), and injects
compression cues into intermediate DiT blocks through a conditioning adaptor. The paper builds on a
pretrained video foundation model (Wan2.1); none exists offline here, so ours is grown from the image
DiT that dicodec already trains (:mod:`dicodec.codec.dit`):

* **Factorised space-time blocks** (TimeSformer's divided attention, Bertasius et al. 2021; Latte, Ma
  et al. 2024): each block is the image DiT's adaLN-zero block run on every frame (2D RoPE,
  QK-RMSNorm, optional cross-attention), then a temporal self-attention across the frames at each
  latent position, with 1D RoPE over the frame index. Attention is
  :func:`~torch.nn.functional.scaled_dot_product_attention` throughout.
* **Initialisable from the image DiT** (:func:`init_from_image_dit`): the spatial blocks have the image
  DiT's parameter names and shapes, and the temporal attention's output projection starts at zero, so
  a freshly initialised video DiT computes, frame by frame, exactly what the image DiT computes. The
  temporal residual is gated by ``1 + gate`` rather than DiT's ``gate``: a zero gate in front of a zero
  projection would leave both without gradient.
* **Conditioning adaptor** (:class:`ConditioningAdaptor`, ControlNet-style, Zhang et al. 2023; light
  condition branches as in EasyControl): a small space-time convolutional network over the compression
  cues a decoder has (the decoded latents and the coding scale of every element, as the image decoder's
  variance guidance reads it) whose per-block outputs are added to the tokens after intermediate blocks
  through zero-initialised projections, so adding it changes nothing before training. The cues do not
  change along the refinement path, so it runs once per group, not once per step.

Units: the DiT works on latents normalised per channel by ``latent_mean``/``latent_std`` (buffers of
:class:`VideoDiT`, copied from the image decoder it starts from or measured on training latents), as
:class:`~dicodec.codec.generative_decoder.GenerativeDecoder` does; time is the repository's flow time
(``x_t = (1 - t) x0 + t eps``, 0 = clean), so copied timestep embeddings keep their meaning. The
refinement itself is :mod:`dicodec.codec.video.refine_flow`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from dicodec.codec.dit import (
    DIT_PRESETS,
    DiT,
    DiTBlock,
    DiTConfig,
    FinalLayer,
    SelfAttention,
    TimestepEmbedder,
    count_parameters,
    cross_attention_dim,
    init_dit_weights,
    modulate,
    rope_2d,
)
from dicodec.codec.generative_decoder import GenerativeDecoder


@dataclass(frozen=True)
class VideoDiTConfig:
    """Architecture of a :class:`VideoDiT` and its :class:`ConditioningAdaptor`.

    The fields up to ``rope_theta`` are :class:`~dicodec.codec.dit.DiTConfig`'s and must equal those of
    an image DiT the video DiT is initialised from (``context_dim`` may be None where the image DiT has
    cross-attention: that part is then not copied).
    """

    in_channels: int = 320  # latent channels of the paired codec
    hidden: int = 256
    depth: int = 10
    heads: int = 4
    mlp_ratio: float = 3.0
    # Per-frame cross-attention to condition tokens: None by default, the adaptor is the condition path
    # (GNVC-VD has no text either); set it to copy an image decoder's cross-attention as well.
    context_dim: int | None = None
    cross_attn_every: int = 2
    adaln: str = "single"
    qk_norm: bool = True
    rope_theta: float = 10000.0
    temporal_rope_theta: float = 10000.0  # 1D RoPE base over frame indexes (integer positions)
    adaptor_hidden: int = 128  # width of the adaptor's convolutions; far below the DiT's (a light branch)
    adaptor_every: int = 2  # the adaptor feeds the tokens after blocks 0, k, 2k, ... before the last

    def to_dict(self) -> dict:
        return asdict(self)

    def image_config(self) -> DiTConfig:
        """The :class:`DiTConfig` of the spatial part (what an image DiT must match to be copied)."""
        names = {f.name for f in fields(DiTConfig)}
        return DiTConfig(**{k: v for k, v in asdict(self).items() if k in names})

    def inject_blocks(self) -> list[int]:
        """Indexes of the blocks after which the adaptor's outputs are added (intermediate ones)."""
        return list(range(0, self.depth - 1, self.adaptor_every))


def _from_image(name: str, adaptor_hidden: int, **changes) -> VideoDiTConfig:
    image = DIT_PRESETS[name].to_dict() | {"context_dim": None} | changes
    return VideoDiTConfig(**image, adaptor_hidden=adaptor_hidden)


VIDEO_DIT_PRESETS: dict[str, VideoDiTConfig] = {
    # Tests and CPU smoke runs: dit-tiny's spatial part (pairs with the "tiny" codec, 32 channels).
    "vdit-tiny": _from_image("dit-tiny", adaptor_hidden=16, adaptor_every=1),
    # dit-s's spatial part (initialisable from dit-s priors and dit-ic-s decoders): 7.28M spatial
    # parameters (no cross-attention), 2.84M temporal, 2.46M adaptor; 25 MB in all as fp16.
    "vdit-s": _from_image("dit-s", adaptor_hidden=128),
}


# ------------------------------------------------------------------ temporal attention


def rope_1d(length: int, head_dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """RoFormer angles for positions ``0..length-1``: (cos, sin), each (length, head_dim/2)."""
    half = head_dim // 2
    freqs = theta ** (-torch.arange(half, device=device, dtype=torch.float32) / half)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * freqs[None]
    return angles.cos(), angles.sin()


class TemporalAttention(nn.Module):
    """Self-attention across frames at each latent position, adaLN-modulated, zero output projection.

    Args:
        dim: token width.
        heads: attention heads.
        qk_norm: RMS-normalise queries and keys per head.
        adaln: "block" (own modulation MLP) or "single" (the video DiT's shared one + an offset table).
    """

    def __init__(self, dim: int, heads: int, qk_norm: bool, adaln: str):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads, qk_norm)
        if adaln == "block":
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        else:
            self.modulation_table = nn.Parameter(torch.zeros(3 * dim))

    def modulation(self, c: Tensor, shared: Tensor | None) -> Tensor:
        """(B, 3d) shift, scale and gate from the per-clip conditioning vector."""
        if shared is None:
            return self.adaLN_modulation(c)
        return shared + self.modulation_table

    def forward(self, x: Tensor, frames: int, mod: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        """``x`` (B*T, N, d) frame-major tokens, ``mod`` (B, 3d); returns the same layout."""
        bt, n, d = x.shape
        b = bt // frames
        seq = x.unflatten(0, (b, frames)).transpose(1, 2).flatten(0, 1)  # (B*N, T, d)
        shift, scale, gate = mod.repeat_interleave(n, dim=0).chunk(3, dim=-1)
        delta = (1 + gate).unsqueeze(1) * self.attn(modulate(self.norm(seq), shift, scale), rope)
        return x + delta.unflatten(0, (b, n)).transpose(1, 2).flatten(0, 1)


class VideoDiTBlock(nn.Module):
    """The image DiT block on every frame (``spatial``), then attention across frames (``temporal``)."""

    def __init__(self, config: VideoDiTConfig, context_dim: int | None):
        super().__init__()
        c = config
        self.spatial = DiTBlock(c.hidden, c.heads, c.mlp_ratio, context_dim, c.adaln, c.qk_norm)
        self.temporal = TemporalAttention(c.hidden, c.heads, c.qk_norm, c.adaln)


# ------------------------------------------------------------------ the video DiT


class VideoDiT(nn.Module):
    """Diffusion Transformer over a group of latents (B, T, C, h, w), patch size 1.

    ``forward(x, t, control, context, extra)`` returns a (B, T, C, h, w) velocity in the repository's
    convention (``eps - x0``); ``t`` (B,) in [0, 1] is the flow time of each group, ``control`` the
    :class:`ConditioningAdaptor`'s per-block outputs, ``context`` (B, K, context_dim) or
    (B, T, K, context_dim) condition tokens for the optional cross-attention, ``extra`` (B, hidden) a
    second global condition added to the timestep embedding, as in :class:`~dicodec.codec.dit.DiT`.

    Args:
        config: architecture.
    """

    def __init__(self, config: VideoDiTConfig):
        super().__init__()
        c = config
        if c.hidden % c.heads or (c.hidden // c.heads) % 4:
            raise ValueError("hidden / heads must be a multiple of 4 (2D RoPE)")
        if c.adaln not in ("single", "block"):
            raise ValueError(f"unknown adaln mode {c.adaln!r}")
        self.config = config
        self.x_embed = nn.Linear(c.in_channels, c.hidden)
        self.t_embed = TimestepEmbedder(c.hidden)
        single = c.adaln == "single"
        self.shared_modulation = (
            nn.Sequential(nn.SiLU(), nn.Linear(c.hidden, 6 * c.hidden)) if single else None
        )
        self.temporal_modulation = (
            nn.Sequential(nn.SiLU(), nn.Linear(c.hidden, 3 * c.hidden)) if single else None
        )
        self.blocks = nn.ModuleList(VideoDiTBlock(c, self._context_dim(i)) for i in range(c.depth))
        self.final = FinalLayer(c.hidden, c.in_channels, c.adaln)
        self.register_buffer("latent_mean", torch.zeros(c.in_channels))
        self.register_buffer("latent_std", torch.ones(c.in_channels))
        self.initialize_weights()

    def _context_dim(self, block: int) -> int | None:
        """The image DiT's rule, so cross-attention sits in the same blocks as there."""
        return cross_attention_dim(self.config.image_config(), block)

    def initialize_weights(self) -> None:
        """DiT's initialisation for the image part; zero temporal output projections and modulations."""
        zero = [self.final.linear]
        for seq in (self.shared_modulation, self.temporal_modulation):
            if seq is not None:
                zero.append(seq[-1])
        for block in self.blocks:
            zero.append(block.temporal.attn.proj)
            for part in (block.spatial, block.temporal):
                if hasattr(part, "adaLN_modulation"):
                    zero.append(part.adaLN_modulation[-1])
            if block.spatial.cross is not None:
                zero.append(block.spatial.cross.proj)
        if hasattr(self.final, "adaLN_modulation"):
            zero.append(self.final.adaLN_modulation[-1])
        init_dit_weights(self, zero)

    # ------------------------------------------------------------------ units
    def set_latent_stats(self, mean: Tensor, std: Tensor) -> None:
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp_min(1e-3))

    def normalize(self, y: Tensor) -> Tensor:
        """Raw (B, T, C, h, w) latents -> the DiT's per-channel normalised units."""
        return (y - self.latent_mean.view(1, 1, -1, 1, 1)) / self.latent_std.view(1, 1, -1, 1, 1)

    def denormalize(self, y_n: Tensor) -> Tensor:
        return y_n * self.latent_std.view(1, 1, -1, 1, 1) + self.latent_mean.view(1, 1, -1, 1, 1)

    def normalize_scale(self, sigma: Tensor) -> Tensor:
        """Raw coding scales -> normalised units (a scale has no mean to remove)."""
        return sigma / self.latent_std.view(1, 1, -1, 1, 1)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x: Tensor,
        t: Tensor,
        control: list[Tensor | None] | None = None,
        context: Tensor | None = None,
        extra: Tensor | None = None,
    ) -> Tensor:
        b, frames, _, h, w = x.shape
        c = self.config
        tokens = self.x_embed(x.flatten(3).transpose(2, 3).flatten(0, 1))  # (B*T, h*w, d), frame-major
        t = t.expand(b) if t.dim() == 0 or t.numel() == 1 else t
        # Per frame, exactly as the image DiT sees a batch of frames (so the two agree bit for bit).
        cond = self.t_embed(t.repeat_interleave(frames))
        if extra is not None:
            cond = cond + extra.repeat_interleave(frames, dim=0)
        shared = self.shared_modulation(cond) if self.shared_modulation is not None else None
        clip_cond = cond.unflatten(0, (b, frames))[:, 0]
        temporal_shared = (
            self.temporal_modulation(clip_cond) if self.temporal_modulation is not None else None
        )
        if context is not None:
            context = context.flatten(0, 1) if context.dim() == 4 else context.repeat_interleave(frames, 0)
        head_dim = c.hidden // c.heads
        rope_s = rope_2d(h, w, head_dim, c.rope_theta, x.device)
        rope_t = rope_1d(frames, head_dim, c.temporal_rope_theta, x.device)
        for i, block in enumerate(self.blocks):
            tokens = block.spatial(tokens, cond, rope_s, context, shared)
            mod = block.temporal.modulation(clip_cond, temporal_shared)
            tokens = block.temporal(tokens, frames, mod, rope_t)
            if control is not None and control[i] is not None:
                tokens = tokens + control[i]
        out = self.final(tokens, cond)  # (B*T, h*w, C)
        return out.transpose(1, 2).unflatten(2, (h, w)).unflatten(0, (b, frames))


# ------------------------------------------------------------------ conditioning adaptor


class ConditioningAdaptor(nn.Module):
    """Compression cues -> per-block token offsets for :class:`VideoDiT` (GNVC-VD's conditioning adaptor).

    Input: the normalised decoded latents ``y_n`` and normalised coding scales ``u_n`` (both
    (B, T, C, h, w); ``u_n`` None reads as "no scale information"), taken as ``[y_n, log u_n]``. A 1x1
    stem and one 3x3x3 space-time convolution per injection point (so each injection sees a wider
    neighbourhood than the one before, as ControlNet's encoder levels do) give features that
    zero-initialised linear maps turn into (B*T, h*w, hidden) offsets. Returns one entry per DiT block,
    None where nothing is injected.

    Args:
        config: the video DiT's config (widths, depth, injection points).
    """

    def __init__(self, config: VideoDiTConfig):
        super().__init__()
        self.config = config
        a, m = config.adaptor_hidden, config.in_channels
        self.inject = config.inject_blocks()
        self.stem = nn.Conv3d(2 * m, a, 1)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.GELU(), nn.Conv3d(a, a, 3, padding=1)) for _ in self.inject
        )
        self.out = nn.ModuleList(nn.Linear(a, config.hidden) for _ in self.inject)
        for layer in self.out:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, y_n: Tensor, u_n: Tensor | None) -> list[Tensor | None]:
        log_u = torch.zeros_like(y_n) if u_n is None else torch.log(u_n.clamp_min(1e-4))
        feats = self.stem(torch.cat([y_n, log_u], 2).transpose(1, 2))  # (B, a, T, h, w)
        control: list[Tensor | None] = [None] * self.config.depth
        for block, stage, out in zip(self.inject, self.stages, self.out, strict=True):
            feats = stage(feats)
            tokens = feats.transpose(1, 2).flatten(3).transpose(2, 3).flatten(0, 1)  # (B*T, h*w, a)
            control[block] = out(tokens)
        return control


# ------------------------------------------------------------------ initialisation from an image DiT


def init_from_image_dit(video_dit: VideoDiT, image_dit: DiT | GenerativeDecoder) -> dict[str, list[str]]:
    """Copy an image DiT's weights into the spatial part of ``video_dit``.

    ``image_dit`` is a :class:`~dicodec.codec.dit.DiT` or a whole
    :class:`~dicodec.codec.generative_decoder.GenerativeDecoder` (its ``dit``, and its latent
    normalisation, so the video DiT sees latents in the units the image DiT was trained on). The patch
    embedding, timestep embedder, shared modulation, every block (as ``blocks.i.spatial``) and the
    final layer are copied; cross-attention only where ``video_dit`` has it. Everything temporal keeps
    its initialisation, whose zero output projections make the video DiT compute, frame by frame, what
    the image DiT computes. The adaptor is untouched. Returns the ``copied`` and ``skipped`` image keys.

    Raises:
        ValueError: the spatial architectures differ (widths, depth, heads, adaLN mode, ...).
    """
    stats = None
    if isinstance(image_dit, GenerativeDecoder):
        stats = (image_dit.latent_mean, image_dit.latent_std)
        image_dit = image_dit.dit
    mine, theirs = video_dit.config.image_config(), image_dit.config
    for name in ("in_channels", "hidden", "depth", "heads", "mlp_ratio", "adaln", "qk_norm", "rope_theta"):
        if getattr(mine, name) != getattr(theirs, name):
            raise ValueError(
                f"image DiT has {name}={getattr(theirs, name)!r}, the video DiT {getattr(mine, name)!r}"
            )
    cross_mine, cross_theirs = (
        (mine.context_dim, mine.cross_attn_every),
        (theirs.context_dim, theirs.cross_attn_every),
    )
    if mine.context_dim is not None and cross_mine != cross_theirs:
        raise ValueError("the video DiT's cross-attention differs from the image DiT's")
    target = video_dit.state_dict()
    pairs, skipped = [], []
    for key, value in image_dit.state_dict().items():
        dst = key
        if key.startswith("blocks."):
            index, rest = key.split(".", 2)[1:]
            dst = f"blocks.{index}.spatial.{rest}"
        if dst in target and target[dst].shape == value.shape:
            pairs.append((key, target[dst], value))
        else:
            skipped.append(key)
    missing = [k for k in skipped if ".cross." not in k]
    if missing:  # checked before anything is written
        raise ValueError(f"image DiT weights without a place in the video DiT: {missing[:3]}")
    with torch.no_grad():
        for _, dst_tensor, value in pairs:
            dst_tensor.copy_(value)
        if stats is not None:
            video_dit.set_latent_stats(*stats)
    return {"copied": [key for key, _, _ in pairs], "skipped": skipped}


__all__ = [
    "VIDEO_DIT_PRESETS",
    "ConditioningAdaptor",
    "TemporalAttention",
    "VideoDiT",
    "VideoDiTConfig",
    "count_parameters",
    "init_from_image_dit",
]
