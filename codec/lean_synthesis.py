"""Decode-time evaluation of a synthesis transform: the same arithmetic with fewer buffers and passes.

Why: on the CPU the fast decode of a 1080p image is mostly the synthesis transform, and part of that
is not multiply-adds but passes over activations of up to 334 MB (160 x 544 x 960 float32), each
elementwise step of ``forward`` writing a fresh one. :func:`lean_synthesis` runs the layers of
:mod:`~dicodec.codec.transforms` with in-place steps where the input is dead (3% less CPU time for
a 1080p synthesis on one core of the 2-core CPU) and gives bit-identical pixels: decoded files must
keep decoding byte for byte as the release that wrote them did (``tests/test_golden.py``), so every
floating-point operation is the one ``forward`` performs, on the same operands, in the same layout:

* elementwise steps in place (``x + f(x)`` as ``x += f(x)``, ``x * sqrt(n)`` as ``n.sqrt_().mul_(x)``):
  IEEE addition and multiplication are commutative and correctly rounded, so the order of operands
  and the output buffer change no bit;
* every convolution sees the input layout it sees in ``forward`` (NCHW; the ConvNeXt pointwise
  layers their channels-last view), so oneDNN and MKL pick the same kernels. Channels-last
  throughout would be faster, but oneDNN's channels-last kernels sum in another order (pixels move
  by up to one level); the one layer that gives the same bits in both layouts, the transposed
  convolution, was measured slower end to end with channels-last input (docs/history.md).

``tests/test_lean_synthesis.py`` holds it to the plain ``forward``, bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec.transforms import GDN, ConvNeXtBlock, RefinedTransform, ResidualBlock


def _inverse_gdn(layer: GDN, x: Tensor) -> Tensor:
    """``x * sqrt(conv1x1(x**2, gamma, beta))`` (compressai's inverse GDN) with two fresh buffers."""
    channels = x.shape[1]
    beta = layer.beta_reparam(layer.beta)
    gamma = layer.gamma_reparam(layer.gamma).reshape(channels, channels, 1, 1)
    square = x * x  # what x**2 computes, element by element
    norm = F.conv2d(square, gamma, beta)
    del square
    return norm.sqrt_().mul_(x)


def _residual(block: ResidualBlock, x: Tensor) -> Tensor:
    conv1, act, conv2 = block.body
    h = conv1(x)
    h = F.leaky_relu_(h, act.negative_slope)
    return x.add_(conv2(h))  # x + body(x), into x: x is this chain's own activation


def _convnext(block: ConvNeXtBlock, x: Tensor) -> Tensor:
    h = block.norm(block.depthwise(x).permute(0, 2, 3, 1))
    h = block.expand(h.permute(0, 3, 1, 2))
    h = torch.ops.aten.gelu_(h)  # F.gelu's kernel, in place
    return x.add_(block.project(h))  # NCHW like forward's x + project(...)


def _run(layer: nn.Module, x: Tensor) -> Tensor:
    if isinstance(layer, GDN) and layer.inverse:
        return _inverse_gdn(layer, x.contiguous())
    if isinstance(layer, ResidualBlock):
        return _residual(layer, x.contiguous())
    if isinstance(layer, ConvNeXtBlock):
        return _convnext(layer, x.contiguous())
    if isinstance(layer, nn.Sequential):
        for inner in layer:
            x = _run(inner, x)
        return x
    return layer(x.contiguous())  # anything else: its own forward, on the NCHW input forward gives it


def lean_synthesis(transform: nn.Module, latent: Tensor) -> Tensor:
    """``transform(latent)`` for a synthesis transform of :mod:`~dicodec.codec.transforms`, bit for bit,
    without autograd and with fewer memory passes. ``latent`` is not modified; the result is NCHW.

    Args:
        transform: an ``nn.Sequential`` of transform layers or a :class:`RefinedTransform`.
        latent: (B, M, h, w).
    """
    with torch.no_grad():
        gated = hasattr(transform, "shortcut") or "input" in getattr(transform, "refine", {})
        if gated or getattr(transform, "detail", None) is not None:
            # residual autoencoding, input refinement or a detail layer: its own forward (lean saves 3%)
            return transform(latent).contiguous()
        x = latent.clone()  # small; the in-place steps below never reach the caller's tensor
        if isinstance(transform, RefinedTransform):
            for i in range(transform.num_layers):
                x = _run(transform._modules[str(i)], x)
                if str(i) in transform.refine:
                    x = _run(transform.refine[str(i)], x)
        else:
            x = _run(transform, x)
        return x.contiguous()
