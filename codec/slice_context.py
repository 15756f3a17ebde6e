"""The channel-context slice networks evaluated incrementally: each input block is read once.

Slice ``i``'s network (:class:`~dicodec.codec.latent_codec.LatentCodec`) reads
``cat([hyper, y_0, ..., y_{i-1}])``. Run as five separate convolutions, the first layers build the
im2col columns of the hyperprior five times and those of slice ``j`` once for every later slice:
282 MB of float64 columns for a 1080p latent, where reading each block once takes 75 MB, and the
first layers are about two thirds of the entropy networks' multiply-adds.

A convolution is a sum over its input channels, so a first layer's accumulator is a sum of one term
per input block: the hyperprior's term of every slice is one GEMM when decoding starts, and slice
``j``'s terms for all later slices are one GEMM as soon as ``j`` is decoded. In the exact integer
arithmetic of :func:`~dicodec.codec.fixed_point.exact_matmul` a sum is the same in any grouping, so
this gives the integers of ``slice_nets[i].forward_exact(cat(...))`` exactly, not approximately
(``tests/test_slice_context.py``); only the order of the work changes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dicodec.codec.fixed_point import ShiftedInput, exact_conv, exact_conv_, requantize_


def _stacked_blocks(slice_nets: nn.ModuleList, hyper_channels: int, slice_channels: int, device) -> list:
    """``[(taps, bias)]`` of the hyperprior block, then the ``taps`` of each slice block.

    Block 0 stacks the hyperprior channels of every slice's first-layer taps (rows of slice ``i`` at
    ``i * hidden``) with all biases; block ``j + 1`` stacks the channels that read slice ``j`` from
    the first layers of slices ``j + 1 ..``. Cached on ``slice_nets`` per device and weights.
    """
    first = [net[0] for net in slice_nets]
    key = (str(device), tuple(layer.weight_int.data_ptr() for layer in first))
    cached = getattr(slice_nets, "_context_blocks", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    full = [layer.float64_taps(device) for layer in first]  # (k * k, hidden, in), bias
    h, c = hyper_channels, slice_channels
    blocks: list = [(torch.cat([t[:, :, :h] for t, _ in full], 1), torch.cat([b for _, b in full]))]
    for j in range(len(first) - 1):
        blocks.append(torch.cat([t[:, :, h + j * c : h + (j + 1) * c] for t, _ in full[j + 1 :]], 1))
    slice_nets._context_blocks = (key, blocks)
    return blocks


class SliceContext:
    """Accumulators of every slice network's first layer, completed one decoded slice at a time.

    Use: ``ctx = SliceContext(nets, hyper_int, c)``; then for ``i = 0 ..``: ``params(i)`` (needs
    slices ``< i`` added), code slice ``i``, ``add(i, y_int_i)``.

    Args:
        slice_nets: the latent codec's frozen slice networks (``ExactSequential``, first layer
            reading ``hyper_channels + i * slice_channels`` channels).
        hyper_int: (B, H, h, w) fixed-point hyperprior features.
        slice_channels: channels of one latent slice.
    """

    def __init__(self, slice_nets: nn.ModuleList, hyper_int: Tensor, slice_channels: int):
        self.nets = slice_nets
        self.kernel = slice_nets[0][0].conv.kernel_size[0]
        self.hidden = slice_nets[0][0].conv.out_channels
        self.blocks = _stacked_blocks(slice_nets, hyper_int.shape[1], slice_channels, hyper_int.device)
        hyper = ShiftedInput(hyper_int, self.kernel)
        self.crop = hyper.crop
        taps, bias = self.blocks[0]
        self.acc = exact_conv(hyper, taps, bias)  # (B, S * hidden, h * W)
        self.added = 0

    def params(self, i: int) -> Tensor:
        """Slice ``i``'s network output, (B, 2c, h, w) fixed point: means, then log-scales."""
        if i != self.added:
            raise RuntimeError(f"slice {i} needs slices 0..{i - 1} added first ({self.added} added)")
        first, rest = self.nets[i][0], self.nets[i][1:]
        rows = self.acc[:, i * self.hidden : (i + 1) * self.hidden]  # complete now; used only here
        x = self.crop(requantize_(rows, first.activation))
        for layer in rest:
            x = layer.forward_exact(x)
        return x

    def add(self, j: int, y_int: Tensor) -> None:
        """Add decoded slice ``j`` (fixed point, (B, c, h, w)) to the later slices' accumulators."""
        if j != self.added:
            raise RuntimeError(f"slice {j} added out of order (expected {self.added})")
        self.added += 1
        if j + 1 < len(self.nets):
            later = self.acc[:, (j + 1) * self.hidden :]
            exact_conv_(later, self.blocks[j + 1], ShiftedInput(y_int, self.kernel))
