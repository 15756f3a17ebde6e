"""GNVC-VD's flow-matching refinement of a group of decoded latents (started from them, not from noise).

GNVC-VD (Mao et al., arXiv 2512.05016) does not denoise from pure Gaussian noise as a video generator
does: it starts the flow from the decoded latents, partly noised, and learns a correction that takes
them to the clean latents in a few deterministic steps. This module holds that flow: the start state,
the path and velocity that training regresses, and the Euler sampler a decoder runs
(:func:`refine_group`). The networks are :mod:`dicodec.codec.video.refiner`'s.

**Time conventions.** The repository's flow time ``s`` (:mod:`dicodec.codec.training.flow_matching`,
the image DiT and its prior) runs from clean to noise: ``x_s = (1 - s) x0 + s eps``, velocity
``v = dx/ds = eps - x0``, and sampling integrates ``s`` downwards to 0. GNVC-VD writes its start state
with a time ``tau`` that runs the other way (``tau = 1`` clean): ``x_{tau_N} = tau_N x_c + (1 - tau_N)
eps``. So ``tau = 1 - s``. The public ``t_start`` here is the paper's ``tau_N`` (default 0.7: 70%
decoded latent, 30% noise); the networks are fed ``s = 1 - tau`` and predict velocities in the
repository's sign, so the timestep embedding and output of an image DiT it starts from keep their
meaning. ``t_start = 0.7`` is ``s0 = 0.3``, where the noise is 0.43 times the signal (the shipped image
decoder's ``t_s = 0.61`` matches a quality-0 coding error of 1.54, docs/dit.md).

**The path** (normalised latent units, ``latent_mean``/``latent_std`` of the video DiT). With the decoded
latents ``x_c``, the clean latents ``x`` and ``s0 = 1 - t_start``, the start state is
``x_{s0} = (1 - s0) x_c + s0 eps`` and training follows the straight line from it to ``x``::

    x_s = x + (s / s0) (x_{s0} - x),   s in (0, s0]
    v*  = (x_{s0} - x) / s0 = (eps - x) + ((1 - s0) / s0) (x_c - x)

``v*`` is the image prior's rectified-flow velocity plus a term proportional to the coding error: the
correction GNVC-VD's network learns on top of the prior. Integrating ``v*`` exactly from ``s0`` to 0
lands on ``x`` with any number of Euler steps (the path is straight); the refiner approximates ``v*``
from ``x_s``, ``s`` and the compression cues.

**Edges.** ``steps = 0`` or ``t_start = 1`` is the identity: no noise is drawn and no network runs,
the input comes back bit for bit (``t_start = 1`` leaves a path of length zero). ``t_start = 0`` starts
from pure noise (generation guided only by the adaptor's cues).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dicodec.codec.video.refiner import ConditioningAdaptor, VideoDiT

DEFAULT_T_START = 0.7  # GNVC-VD's tau_N: the start state is 70% decoded latent, 30% noise
DEFAULT_STEPS = 5  # Euler steps from the start state to the clean end

VelocityFn = Callable[[Tensor, Tensor], Tensor]


def check_schedule(steps: int, t_start: float) -> None:
    """Raise ``ValueError`` unless ``steps >= 0`` and ``0 <= t_start <= 1``."""
    if steps < 0 or int(steps) != steps:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")
    if not 0.0 <= t_start <= 1.0:
        raise ValueError(f"t_start must be in [0, 1], got {t_start}")


def is_identity(steps: int, t_start: float) -> bool:
    """True where the refinement returns its input unchanged (see the module docstring)."""
    return steps == 0 or t_start == 1.0


def flow_time(t_start: float) -> float:
    """The repository's flow time ``s0 = 1 - t_start`` of GNVC-VD's start time ``tau_N = t_start``."""
    return 1.0 - t_start


def draw_noise(shape: torch.Size | tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    """Standard normal noise from a CPU generator seeded with ``seed``, then moved to ``device``: the
    same noise on every device (a GPU generator would draw other numbers), so a decode is reproducible
    and only the network arithmetic may differ between devices."""
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed)).to(device)


def start_state(decoded_n: Tensor, noise: Tensor, t_start: float) -> Tensor:
    """GNVC-VD's ``x_{tau_N} = tau_N x_c + (1 - tau_N) eps`` in normalised units."""
    return t_start * decoded_n + (1.0 - t_start) * noise


def path_targets(
    clean_n: Tensor, start: Tensor, t_start: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_s, s, v*)`` on the straight path from the start state (at ``s0``) to the clean latents (at 0).

    ``s`` is drawn per group uniformly in ``(0, s0]``: the sampler visits the segment evenly (uniform
    Euler steps) and its start ``s0``, where the first and largest correction is made, must be seen.

    Args:
        clean_n: clean latents (B, T, C, h, w), normalised.
        start: the start state of the same groups (:func:`start_state`).
        t_start: GNVC-VD's ``tau_N``, below 1.
        generator: source of the times.
    """
    s0 = flow_time(t_start)
    if s0 <= 0:
        raise ValueError("t_start = 1 leaves no path to train on")
    u = torch.rand(clean_n.shape[0], device=clean_n.device, generator=generator)
    s = s0 * (1.0 - u)  # (0, s0]
    v = (start - clean_n) / s0
    x_s = clean_n + s.view(-1, 1, 1, 1, 1) * v
    return x_s, s, v


def euler(velocity_fn: VelocityFn, x: Tensor, t_start: float, steps: int) -> Tensor:
    """Integrate ``dx/ds = v`` from ``s0 = 1 - t_start`` down to 0 in ``steps`` uniform Euler steps.

    Differentiable (training back-propagates through it); the step times are ``s0 (1 - k / steps)``.
    """
    s0 = flow_time(t_start)
    for k in range(steps):
        s = torch.full((x.shape[0],), s0 * (1.0 - k / steps), device=x.device)
        x = x - (s0 / steps) * velocity_fn(x, s)
    return x


def refine_normalized(
    refiner: VideoDiT,
    adaptor: ConditioningAdaptor | None,
    decoded_n: Tensor,
    scales_n: Tensor | None,
    noise: Tensor,
    steps: int,
    t_start: float,
) -> Tensor:
    """The refinement in normalised units, differentiable: start state, then ``steps`` Euler steps.

    The adaptor runs once: its cues (decoded latents and scales) are the same at every step.
    """
    control = adaptor(decoded_n, scales_n) if adaptor is not None else None
    x = start_state(decoded_n, noise, t_start)
    return euler(lambda x_s, s: refiner(x_s, s, control), x, t_start, steps)


@torch.no_grad()
def refine_group(
    refiner: VideoDiT,
    adaptor: ConditioningAdaptor | None,
    y_hat_group: Tensor,
    scales_group: Tensor | None,
    steps: int = DEFAULT_STEPS,
    t_start: float = DEFAULT_T_START,
    seed: int = 0,
) -> Tensor:
    """Refine a group of decoded latents jointly; returns refined latents in raw units.

    Units as :mod:`dicodec.codec.generative_decoder`'s public functions: raw latents of the synthesis
    domain (gain removed, what :meth:`ImageCodec.synthesize <dicodec.codec.model.ImageCodec.synthesize>`
    takes) in and out; the scales likewise gain-removed (``coding_scales(index) * inverse_gain``).

    Args:
        refiner: the video DiT (its ``latent_mean``/``latent_std`` set the normalisation).
        adaptor: its conditioning adaptor, or None to run without cues.
        y_hat_group: decoded latents (B, T, C, h, w).
        scales_group: coding scale of every element (same shape), or None.
        steps: Euler steps L (0: identity).
        t_start: GNVC-VD's ``tau_N`` in [0, 1] (1: identity).
        seed: seed of the start-state noise (drawn on the CPU: the same on every device).
    """
    check_schedule(steps, t_start)
    if y_hat_group.dim() != 5:
        raise ValueError(f"expected (B, T, C, h, w) latents, got shape {tuple(y_hat_group.shape)}")
    if scales_group is not None and scales_group.shape != y_hat_group.shape:
        raise ValueError("scales_group must have the shape of y_hat_group")
    if is_identity(steps, t_start):
        return y_hat_group.clone()
    decoded_n = refiner.normalize(y_hat_group.float())
    scales_n = None if scales_group is None else refiner.normalize_scale(scales_group.float())
    noise = draw_noise(decoded_n.shape, seed, decoded_n.device)
    x = refine_normalized(refiner, adaptor, decoded_n, scales_n, noise, steps, t_start)
    return refiner.denormalize(x)
