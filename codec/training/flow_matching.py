"""Rectified flow on dicodec's 32x latents: the DiT prior's training objective and its samplers.

The prior (stage ``prior`` of :mod:`dicodec.codec.training.train_dit`) is a DiT trained by rectified
flow (Liu et al., "Flow Straight and Fast", ICLR 2023; Lipman et al., "Flow Matching", ICLR 2023) on
the clean encoder latents of the frozen :class:`~dicodec.codec.model.ImageCodec`:
``x_t = (1 - t) x0 + t eps``, the network regresses the velocity ``v = eps - x0``
(:func:`flow_matching_loss`), and :func:`euler_sample` integrates ``dx/dt = v`` from noise back to
``t = 0``. Run from a noised decoded latent instead of from noise (SDEdit), the prior is the multi-step
teacher the one-step decoder is distilled from (:func:`teacher_refine`).

Training only: the shipped one-step decoder (:mod:`dicodec.codec.generative_decoder`) takes a single
step and never samples. DiT-IC adapts SANA-600M as its prior; no such weights exist offline, so ours is
trained here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from dicodec.codec.generative_decoder import GenerativeDecoder

VelocityFn = Callable[[Tensor, Tensor], Tensor]


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
