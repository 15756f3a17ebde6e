"""Integer-exact convolution networks for the entropy parameters.

Why this exists: an rANS decoder only stays in sync with the encoder if both pick *exactly* the same
CDF for every symbol. The CDF is chosen from a mean and a scale that a neural network predicts from
already-decoded data, so that network must give bit-identical numbers on any CPU, any GPU and any
thread count. Floating-point convolutions do not: summation order, fused multiply-adds and the
algorithm cuDNN picks all change the last bits (CompressAI issues #279 and #309 report broken decodes
across machines; CALIBRATION.md records a NaN decode on one GPU with ``cudnn.benchmark``).

The fix follows the integerization idea of DCVC-RT (Jia et al., "Towards Practical Real-Time Neural
Video Compression", CVPR 2025) in a form that runs on stock PyTorch:

* weights are integers ``w_int = round(w * 2**WEIGHT_BITS)``, biases ``round(b * 2**(ACT+WEIGHT))``;
* activations are fixed point, integers ``a_int = round(a * 2**ACT_BITS)`` clamped to ``ACT_LIMIT``;
* a convolution is evaluated in float64 on integer-valued tensors. Every product and every partial sum
  is an integer below 2**53, so float64 represents it exactly and the result does not depend on the
  order of summation, the device or the thread count;
* the only non-linearity is a leaky ReLU with slope 1/8 and the only rescale is by a power of two, both
  exact; re-quantization is ``floor(x + 1/2)`` on an exactly known value.

Training sees the same arithmetic through straight-through fake quantization (Bengio et al. 2013), so
the float model and the frozen integer model agree up to rounding ties.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACT_BITS = 8  # fractional bits of activations: 1/256 resolution, far below the quantization bin of 1
WEIGHT_BITS = 12  # fractional bits of weights
ACT_LIMIT = 2**20  # |a_int| bound: +-4096 in real units, far beyond any trained activation
WEIGHT_LIMIT = 2**15 - 1  # |w_int| bound: +-8 in real units; fits int16 in the weights file
LEAKY_SLOPE = 0.125  # a power of two keeps the activation exact
# Worst case |sum| = K * ACT_LIMIT * WEIGHT_LIMIT with K = in_channels * 9 <= 2**13 -> 2**48 < 2**53.
MAX_FAN_IN = 2**13


def ste_round(x: Tensor) -> Tensor:
    """Round with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()


def fake_quantize(x: Tensor, frac_bits: int, limit: int) -> Tensor:
    """Snap ``x`` to the fixed-point grid ``k * 2**-frac_bits`` with ``|k| <= limit`` (straight-through)."""
    scale = float(2**frac_bits)
    q = torch.clamp(torch.round(x * scale), -limit, limit) / scale
    return x + (q - x).detach()


def quantize_activation_exact(x: Tensor) -> Tensor:
    """Map real values to exact float64 fixed-point integers (round half up, clamp)."""
    xi = torch.floor(x.to(torch.float64) * float(2**ACT_BITS) + 0.5)
    return torch.clamp(xi, -ACT_LIMIT, ACT_LIMIT)


class ShiftedInput:
    """A (B, C, h, w) fixed-point tensor zero-padded and flattened for :func:`exact_conv_`.

    Why this layout: with the padded rows laid end to end, the input a kernel tap ``(i, j)`` reads
    for every output pixel is one contiguous window of the flat array, starting at ``i * W + j``
    (``W = w + 2p`` the padded width). A 'same' convolution is then ``k * k`` GEMMs on windows of
    one array, with no im2col copy: the output is computed on the padded width too, and its ``2p``
    extra columns are dropped (:meth:`crop`). One more zero row at the bottom keeps the last tap's
    window inside the array.
    """

    def __init__(self, x_int: Tensor, kernel_size: int):
        p = kernel_size // 2
        self.kernel = kernel_size
        self.height, self.width = x_int.shape[-2:]
        self.row = self.width + 2 * p  # W: the padded width
        self.length = self.height * self.row  # output positions, padded-width grid
        self.flat = F.pad(x_int, (p, p, p, p + 1)).flatten(2)  # (B, C, (h + 2p + 1) * W)

    def window(self, tap: int) -> Tensor:
        """The (B, C, h * W) input window of tap ``tap`` (row-major over the k x k kernel)."""
        start = (tap // self.kernel) * self.row + tap % self.kernel
        return self.flat[..., start : start + self.length]

    def crop(self, out: Tensor) -> Tensor:
        """(B, R, h * W) on the padded grid -> (B, R, h, w) (a view)."""
        return out.view(*out.shape[:2], self.height, self.row)[..., : self.width]


def exact_conv_(acc: Tensor, taps: Tensor, x: ShiftedInput) -> Tensor:
    """In place: ``acc += conv(x, taps)``, for float64 fixed-point integers on the padded grid.

    Args:
        acc: (B, R, h * W) accumulator, e.g. the bias broadcast (:func:`exact_conv`).
        taps: (k * k, R, C) weights, one (R, C) matrix per kernel tap.
        x: the input, C channels.

    Why GEMMs are exact: every product and every partial sum, in whatever order and blocking the
    BLAS picks, is an integer below 2**53 in magnitude (the ``MAX_FAN_IN`` bound; the same holds for
    any subset of the terms), so float64 holds it exactly and the result is the same on any device
    and thread count. What must be avoided are algorithms whose intermediate values are not integers
    (cuDNN's Winograd and FFT convolutions); a GEMM has none. The grouping into taps and input blocks
    (:mod:`~dicodec.codec.slice_context`) is free for the same reason.
    """
    for tap in range(taps.shape[0]):
        window = x.window(tap)
        if acc.shape[0] == 1:  # one image: 2-D GEMMs, accumulated by the BLAS itself
            acc[0].addmm_(taps[tap], window[0])
        else:
            acc.baddbmm_(taps[tap].expand(acc.shape[0], *taps.shape[1:]), window)
    return acc


def exact_conv(x: ShiftedInput, taps: Tensor, bias: Tensor) -> Tensor:
    """``bias + conv(x, taps)`` as a new (B, R, h * W) accumulator on the padded grid."""
    acc = bias.view(1, -1, 1).expand(x.flat.shape[0], -1, x.length).clone()
    return exact_conv_(acc, taps, x)


def requantize_(acc: Tensor, activation: bool) -> Tensor:
    """In place: exact leaky ReLU (optional), rescale by ``2**-WEIGHT_BITS``, round half up, clamp.

    ``acc`` holds values ``* 2**(ACT_BITS + WEIGHT_BITS)``; the result is fixed point with ACT_BITS.
    Multiplying by a power of two and adding 1/2 are exact on these values, so the in-place chain
    gives the same numbers as any other evaluation order.
    """
    if activation:
        F.leaky_relu_(acc, LEAKY_SLOPE)
    return acc.mul_(float(2**-WEIGHT_BITS)).add_(0.5).floor_().clamp_(-ACT_LIMIT, ACT_LIMIT)


class ExactConv2d(nn.Module):
    """A stride-1 convolution that trains in float and decodes in exact integer arithmetic.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size; padding keeps the spatial size.
        activation: apply the exact leaky ReLU (slope 1/8) before re-quantization.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, activation: bool = True):
        super().__init__()
        if in_channels * kernel_size * kernel_size > MAX_FAN_IN:
            raise ValueError("fan-in too large for exact float64 accumulation")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.activation = activation
        self.register_buffer("weight_int", torch.zeros(0, dtype=torch.int16), persistent=True)
        self.register_buffer("bias_int", torch.zeros(0, dtype=torch.int64), persistent=True)

    @property
    def frozen(self) -> bool:
        return self.weight_int.numel() > 0

    def forward(self, x: Tensor) -> Tensor:
        """Training path: float arithmetic on fake-quantized inputs, weights and biases."""
        x = fake_quantize(x, ACT_BITS, ACT_LIMIT)
        w = fake_quantize(self.conv.weight, WEIGHT_BITS, WEIGHT_LIMIT)
        b = fake_quantize(self.conv.bias, ACT_BITS + WEIGHT_BITS, 2**52)
        y = F.conv2d(x, w, b, padding=self.conv.padding)
        return F.leaky_relu(y, LEAKY_SLOPE) if self.activation else y

    def freeze(self) -> None:
        """Compute the integer weights that define decoding from the float weights."""
        with torch.no_grad():
            w = torch.round(self.conv.weight.float() * 2**WEIGHT_BITS).clamp(-WEIGHT_LIMIT, WEIGHT_LIMIT)
            b = torch.round(self.conv.bias.double() * 2 ** (ACT_BITS + WEIGHT_BITS))
            self.weight_int = w.to(torch.int16)
            self.bias_int = b.to(torch.int64)

    def thaw(self, grid_noise: Tensor | None = None) -> None:
        """The inverse of :meth:`freeze`: float weights from the integers (released files hold only
        those), exact up to the weight grid; ``grid_noise`` (in grid steps, within +-0.5) is added to
        the weights so they keep rounding to the same integers but no longer sit on the grid."""
        with torch.no_grad():
            w = self.weight_int.float() if grid_noise is None else self.weight_int.float() + grid_noise
            self.conv.weight.copy_(w / 2**WEIGHT_BITS)
            self.conv.bias.copy_((self.bias_int.double() / 2 ** (ACT_BITS + WEIGHT_BITS)).float())

    def float64_taps(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """The integer weights as float64 (k * k, out, in) tap matrices and the bias, on ``device``.

        Cached (not a buffer): the integer buffers stay the single source of truth in the state dict.
        """
        key = (self.weight_int.data_ptr(), self.bias_int.data_ptr(), str(device))
        if getattr(self, "_cache_key", None) != key:
            taps = self.weight_int.to(device, torch.float64).permute(2, 3, 0, 1).flatten(0, 1)
            self._cache = (taps.contiguous(), self.bias_int.to(device, torch.float64))
            self._cache_key = key
        return self._cache

    def forward_exact(self, x_int: Tensor) -> Tensor:
        """Exact path on float64 fixed-point integers; returns fixed-point integers (ACT_BITS)."""
        if not self.frozen:
            raise RuntimeError("ExactConv2d.freeze() (codec.update()) must run before exact inference")
        taps, bias = self.float64_taps(x_int.device)
        x = ShiftedInput(x_int, self.conv.kernel_size[0])
        return x.crop(requantize_(exact_conv(x, taps, bias), self.activation))  # acc: value * 2**(ACT+WEIGHT)


class PixelShuffleUp(nn.Module):
    """2x upsampling as an exact convolution to 4x channels followed by a pixel shuffle (a permutation)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ExactConv2d(in_channels, out_channels * 4, 3, activation=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)

    def forward_exact(self, x_int: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv.forward_exact(x_int), 2)


class ExactSequential(nn.Sequential):
    """A chain of exact layers with both a training and an exact path."""

    def forward_exact(self, x_int: Tensor) -> Tensor:
        for layer in self:
            x_int = layer.forward_exact(x_int)
        return x_int

    def freeze(self) -> None:
        for module in self.modules():
            if isinstance(module, ExactConv2d):
                module.freeze()
