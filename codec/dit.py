"""A Diffusion Transformer on the 32x latent grid (the backbone of the generative decoder).

The block is DiT's adaLN-zero block (Peebles & Xie, "Scalable Diffusion Models with Transformers",
ICCV 2023, Sec. 3.2): LayerNorms without affine parameters whose shift/scale and a residual gate are
regressed from the timestep embedding, with the regression zero-initialised so every block starts as the
identity. Changes for a codec:

* **patch size 1**: the 32x latent is already coarse (a 2048x2048 image is 64x64 = 4096 tokens), so every
  latent element is a token and nothing is lost to patchifying;
* **2D rotary position embeddings** (RoPE, Su et al. 2021, in the axial 2D form used by FLUX/EVA-02) on
  queries and keys instead of DiT's fixed sin-cos table: attention then depends only on relative offsets,
  so one model runs at any latent size, which the tiling of whole images needs;
* **QK-RMSNorm** (as in SD3/SANA) keeps attention logits bounded at long sequences;
* an optional **cross-attention** to a few condition tokens (PixArt-alpha, Chen et al. 2024), with a
  zero-initialised output projection so adding it to a trained prior changes nothing at first;
* ``adaln="single"`` shares one modulation MLP across blocks plus a per-block learned offset table
  (PixArt-alpha's adaLN-single): 6 d^2 parameters per block saved, for a shipped file under 20 MB. The
  decoder runs at one fixed timestep, where per-block MLPs buy nothing.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels
on GPU).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of a :class:`DiT`."""

    in_channels: int = 320  # latent channels M of the codec (320 for hp32)
    hidden: int = 256  # token width d; heads of 64 channels keep flash-attention kernels fast
    depth: int = 10  # depth over width at a fixed budget: 10 x 256 beats 8 x 320 in parameters per layer
    heads: int = 4
    mlp_ratio: float = 3.0  # below DiT's 4 to stay under 10M parameters
    context_dim: int | None = 256  # width of condition tokens; None builds no cross-attention
    cross_attn_every: int = 2  # cross-attention in every k-th block (1 = all), counted from the first
    adaln: str = "single"  # "block": DiT's per-block adaLN MLP; "single": PixArt-alpha's shared one
    qk_norm: bool = True
    rope_theta: float = 10000.0  # RoPE base; integer token positions, so 1 token = 32 px at any size

    def to_dict(self) -> dict:
        return asdict(self)


DIT_PRESETS: dict[str, DiTConfig] = {
    # Unit tests and CPU smoke runs (pairs with the "tiny" codec preset, 32 latent channels).
    "dit-tiny": DiTConfig(in_channels=32, hidden=32, depth=2, heads=2, mlp_ratio=2.0, context_dim=32,
                          cross_attn_every=1),
    # Shipping size: 8.6M parameters (~9M with the decoder's heads, 18 MB as fp16).
    "dit-s": DiTConfig(),
    # For ablations on the GPU only (too large to ship inside the 60 MB budget).
    "dit-b": DiTConfig(hidden=512, depth=12, heads=8, mlp_ratio=4.0, context_dim=512, cross_attn_every=1),
}  # fmt: skip


# ------------------------------------------------------------------ embeddings


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (B,) timesteps in [0, 1] (DiT's, on t * 1000 so 1/1000 steps resolve)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features -> MLP -> (B, hidden), as in DiT."""

    def __init__(self, hidden: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim))


def rope_2d(
    height: int, width: int, head_dim: int, theta: float, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Axial 2D RoPE angles for a row-major ``height x width`` grid: (cos, sin), each (N, head_dim/2).

    The first half of the rotated pairs turns with the row index, the second with the column index, each
    with the RoFormer frequencies ``theta^(-2k/(head_dim/2))``. ``q . k`` then depends only on
    ``(row_q - row_k, col_q - col_k)``.
    """
    if head_dim % 4:
        raise ValueError("2D RoPE needs a head dimension divisible by 4")
    quarter = head_dim // 4
    freqs = theta ** (-torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    rows = torch.arange(height, device=device, dtype=torch.float32)
    cols = torch.arange(width, device=device, dtype=torch.float32)
    ang_r = (rows[:, None] * freqs[None]).repeat_interleave(width, dim=0)  # (N, quarter)
    ang_c = (cols[:, None] * freqs[None]).repeat(height, 1)
    angles = torch.cat([ang_r, ang_c], dim=-1)  # (N, head_dim / 2)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive channel pairs of ``x`` (B, heads, N, head_dim) by the given angles."""
    x2 = x.float().unflatten(-1, (-1, 2))
    a, b = x2[..., 0], x2[..., 1]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


# ------------------------------------------------------------------ attention and MLP


class SelfAttention(nn.Module):
    """Multi-head self-attention with QK-RMSNorm and 2D RoPE."""

    def __init__(self, dim: int, heads: int, qk_norm: bool):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # (B, h, N, hd)
        q, k = apply_rope(self.q_norm(q), *rope), apply_rope(self.k_norm(k), *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).flatten(2))


class CrossAttention(nn.Module):
    """Tokens attend to condition tokens (no positions on either side); output projection starts at 0."""

    def __init__(self, dim: int, context_dim: int, heads: int, qk_norm: bool):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        q = self.q(self.norm(x)).unflatten(-1, (self.heads, -1)).transpose(1, 2)
        k, v = self.kv(context).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(self.q_norm(q), self.k_norm(k), v)
        return self.proj(out.transpose(1, 2).flatten(2))


class Mlp(nn.Module):
    """Two linears with a tanh-GELU between (DiT's MLP)."""

    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: ``x * (1 + scale) + shift`` with (B, d) modulations broadcast over tokens."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


# ------------------------------------------------------------------ blocks


class DiTBlock(nn.Module):
    """adaLN-zero block (DiT Fig. 3): gated self-attention, optional cross-attention, gated MLP.

    Args:
        dim: token width.
        heads: attention heads.
        mlp_ratio: MLP width / token width.
        context_dim: condition-token width, or None for no cross-attention.
        adaln: "block" (own modulation MLP) or "single" (shared modulation + own offset table).
        qk_norm: RMS-normalise queries and keys per head.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float,
        context_dim: int | None,
        adaln: str,
        qk_norm: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads, qk_norm)
        self.cross = CrossAttention(dim, context_dim, heads, qk_norm) if context_dim else None
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)
        if adaln == "block":
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        elif adaln == "single":
            self.modulation_table = nn.Parameter(torch.zeros(6 * dim))
        else:
            raise ValueError(f"unknown adaln mode {adaln!r}")

    def modulation(self, c: Tensor, shared: Tensor | None) -> Tensor:
        """(B, 6d) shift/scale/gate for attention and MLP from the conditioning vector ``c``."""
        if shared is None:
            return self.adaLN_modulation(c)
        return shared + self.modulation_table

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        rope: tuple[Tensor, Tensor],
        context: Tensor | None = None,
        shared: Tensor | None = None,
    ) -> Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.modulation(c, shared).chunk(6, dim=-1)
        x = x + gate_a.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_a, scale_a), rope)
        if self.cross is not None and context is not None:
            x = x + self.cross(x, context)
        return x + gate_m.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class FinalLayer(nn.Module):
    """adaLN-modulated LayerNorm and a zero-initialised projection back to latent channels."""

    def __init__(self, dim: int, out_channels: int, adaln: str):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_channels)
        if adaln == "block":
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        else:  # PixArt-alpha: a learned table plus the conditioning vector itself
            self.modulation_table = nn.Parameter(torch.zeros(2, dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if hasattr(self, "adaLN_modulation"):
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        else:
            shift, scale = (self.modulation_table.unsqueeze(0) + c.unsqueeze(1)).unbind(1)
        return self.linear(modulate(self.norm(x), shift, scale))


def cross_attention_dim(config: DiTConfig, block: int) -> int | None:
    """Width of block ``block``'s condition tokens, or None where it has no cross-attention (every
    ``cross_attn_every``-th block from the first). Shared with the video DiT, whose spatial blocks must
    sit where an image DiT's do for :func:`~dicodec.codec.video.refiner.init_from_image_dit`."""
    c = config
    return c.context_dim if c.context_dim and block % c.cross_attn_every == 0 else None


def init_dit_weights(model: nn.Module, zero: list[nn.Linear]) -> None:
    """DiT's initialisation (Peebles & Xie 2023): Xavier-uniform linears with zero bias, N(0, 0.02) for
    ``model.t_embed``'s MLP, then ``zero`` (the adaLN-zero and output layers) set to zero."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    for layer in model.t_embed.mlp[::2]:
        nn.init.normal_(layer.weight, std=0.02)
    for layer in zero:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


class DiT(nn.Module):
    """Diffusion Transformer over a (B, C, h, w) latent with patch size 1.

    ``forward(x, t, context, extra)`` returns a (B, C, h, w) prediction (a velocity in dicodec). ``t`` is
    (B,) in [0, 1]; ``context`` (B, K, context_dim) feeds the cross-attention; ``extra`` (B, hidden) is
    added to the timestep embedding (a second global condition, e.g. the rate).

    Args:
        config: architecture.
    """

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        c = config
        if c.hidden % c.heads:
            raise ValueError("hidden must be divisible by heads")
        self.x_embed = nn.Linear(c.in_channels, c.hidden)  # patch size 1: a 1x1 convolution
        self.t_embed = TimestepEmbedder(c.hidden)
        self.shared_modulation = (
            nn.Sequential(nn.SiLU(), nn.Linear(c.hidden, 6 * c.hidden)) if c.adaln == "single" else None
        )
        self.blocks = nn.ModuleList(
            DiTBlock(c.hidden, c.heads, c.mlp_ratio, self._context_dim(i), c.adaln, c.qk_norm)
            for i in range(c.depth)
        )
        self.final = FinalLayer(c.hidden, c.in_channels, c.adaln)
        self.initialize_weights()

    def _context_dim(self, block: int) -> int | None:
        return cross_attention_dim(self.config, block)

    def initialize_weights(self) -> None:
        """DiT's initialisation: Xavier linears, N(0, 0.02) timestep MLP, zero adaLN and output layers."""
        zero = [self.final.linear]
        for module in [self, self.final, *self.blocks]:
            seq = getattr(module, "shared_modulation" if module is self else "adaLN_modulation", None)
            if seq is not None:
                zero.append(seq[-1])
        zero += [b.cross.proj for b in self.blocks if b.cross is not None]
        init_dit_weights(self, zero)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor | None = None,
        extra: Tensor | None = None,
        return_layer: int | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Velocity for ``x`` at times ``t``; with ``return_layer=k`` also the tokens after block ``k``
        (1-based), for representation alignment during training."""
        b, _, h, w = x.shape
        tokens = self.x_embed(x.flatten(2).transpose(1, 2))  # (B, h*w, d)
        c = self.t_embed(t.expand(b) if t.dim() == 0 or t.numel() == 1 else t)
        if extra is not None:
            c = c + extra
        shared = self.shared_modulation(c) if self.shared_modulation is not None else None
        rope = rope_2d(h, w, self.config.hidden // self.config.heads, self.config.rope_theta, x.device)
        features = None
        for i, block in enumerate(self.blocks, start=1):
            tokens = block(tokens, c, rope, context, shared)
            if i == return_layer:
                features = tokens
        out = self.final(tokens, c).transpose(1, 2).unflatten(2, (h, w))
        return out if return_layer is None else (out, features)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` (what the shipped fp16 file holds, times two bytes)."""
    return sum(p.numel() for p in module.parameters())
