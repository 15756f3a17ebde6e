"""Encoder-side latent refinement: fit the latent to one image before coding it.

The analysis transform is amortised inference: one forward pass that is good on average over the
training photos, not the latent that minimises this image's rate-distortion cost. Gradient steps on the
latent itself close part of that gap (Campos et al., "Content Adaptive Optimization for Neural Image
Compression", CVPRW 2019; Yang, Bamler and Mandt, "Improving Inference for Neural Image Compression",
NeurIPS 2020). Only the encoder changes: the file is an ordinary file of the same model, decoded by every
release that decodes the model, and decoding costs nothing more.

The objective is training's (``bpp + lambda * (0.5 * 255^2 * MSE + 640 * (1 - MS-SSIM))`` at the file's
gain level) through the latent codec's training path: the rate of noise-relaxed latents gives a
gradient where rounding gives none (straight-through rounding alone made the rate grow in every probe),
while the synthesis and the channel context see the rounded latent. After every step the *rounded*
objective is measured and the best latent is kept, so refinement never codes a latent that scores worse
than the analysis transform's own (step 0). The relaxation noise comes from a fixed seed: the same
image and settings give the same bytes on the same machine.
"""

from __future__ import annotations

import copy
import functools
import weakref
from collections.abc import Callable

import torch
from pytorch_msssim import ms_ssim
from torch import Tensor

from dicodec.codec.fixed_point import ExactConv2d
from dicodec.codec.latent_codec import LatentCodec

DEFAULT_STEPS = 30
LEARNING_RATE = 3e-3  # Adam, on latents in quantisation-step units (chosen on the selection set)
MSSSIM_MIN_SIDE = 161  # MS-SSIM's five scales need more than 160 px
# codec -> the float twins of its latent codecs, kept outside the codec so that it never enters its state_dict
_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def float_latent_codec(latent_codec: LatentCodec) -> LatentCodec:
    """A trainable copy of a frozen latent codec: the float weights of its exact networks come back from
    their integers (:meth:`ExactConv2d.thaw`), as when a training run warm-starts from a file."""
    twin = copy.deepcopy(latent_codec)
    for module in twin.modules():
        if isinstance(module, ExactConv2d) and module.frozen:
            module.thaw()
    twin.scale_bound = "toward"
    return twin.eval().requires_grad_(False)


def rd_objective(
    latent_codec: Callable[..., dict],
    synthesis,
    y: Tensor,
    x: Tensor,
    inverse_gain: Tensor,
    lam: Tensor,
    noisy: bool,
) -> Tensor:
    """Rate (bits per pixel) + lambda * distortion of coding the gained latent ``y`` of image ``x``
    (``latent_codec``: a :class:`LatentCodec` or anything called like one, e.g.
    :meth:`ImageCodec.code_latent <dicodec.codec.model.ImageCodec.code_latent>`)."""
    out = latent_codec(y, noisy_rate=noisy)
    x_hat = synthesis(out["y_hat"] * inverse_gain)
    bits = sum((-torch.log2(lik)).sum() for lik in out["likelihoods"].values())
    distortion = 0.5 * 255.0**2 * (x_hat - x).pow(2).mean()
    if min(x.shape[-2:]) >= MSSSIM_MIN_SIDE:
        distortion = distortion + 640 * (1 - ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0))
    return bits / (x.shape[-2] * x.shape[-1]) + lam * distortion


def refine_latent(
    codec,
    x: Tensor,
    y: Tensor,
    inverse_gain: Tensor,
    lam: Tensor,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
) -> Tensor:
    """The best of ``y`` (the analysis' gained latent of tile ``x``) and ``steps`` refinements of it.

    ``codec`` is the :class:`~dicodec.codec.model.ImageCodec` (its synthesis and a float twin of its
    latent codec, made once per codec and device); ``inverse_gain`` and ``lam`` are those of the coding
    level.
    """
    twins = _TWINS.get(codec)
    if twins is None or twins[0].entropy_bottleneck.quantiles.device != x.device:
        twins = _TWINS[codec] = [float_latent_codec(lc).to(x.device) for lc in codec.latent_codecs()]
    twin = functools.partial(codec.code_latent, codecs=twins)
    start = y.detach().float()
    inverse_gain, lam = inverse_gain.detach(), lam.detach()
    codec.synthesis.requires_grad_(False)  # gradients for the latent only
    devices = [x.device] if x.device.type == "cuda" else []
    cudnn = torch.backends.cudnn
    flags = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = True, False  # cuDNN's fastest backward kernels use atomics
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            best_y = _descend(codec, twin, x, start, inverse_gain, lam, steps, seed)
    finally:
        cudnn.deterministic, cudnn.benchmark = flags
    return best_y


def _descend(codec, twin, x, start, inverse_gain, lam, steps, seed) -> Tensor:
    """Adam on the latent from ``start``; the best latent by the rounded objective."""
    best_y, best = start, None
    latent = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([latent], lr=LEARNING_RATE)
    torch.manual_seed(seed)
    for step in range(steps + 1):
        with torch.no_grad():
            score = rd_objective(twin, codec.synthesis, latent, x, inverse_gain, lam, noisy=False).item()
        if best is None or score < best:
            best, best_y = score, latent.detach().clone()
        if step == steps:
            break
        optimiser.zero_grad(set_to_none=True)
        rd_objective(twin, codec.synthesis, latent, x, inverse_gain, lam, noisy=True).backward()
        optimiser.step()
    return best_y
