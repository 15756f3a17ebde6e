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


def _exact_conv(x_int: Tensor, w_int: Tensor, b_int: Tensor, padding: int) -> Tensor:
    # cuDNN may pick Winograd/FFT algorithms whose intermediate values are not integers; the native
    # im2col + GEMM path only ever adds integer products, which float64 holds exactly.
    with torch.backends.cudnn.flags(enabled=False):
        acc = F.conv2d(x_int, w_int, None, padding=padding)
    return acc + b_int.view(1, -1, 1, 1)


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

    def _float64_weights(self, device: torch.device) -> tuple[Tensor, Tensor]:
        # Cached (not a buffer): the integer buffers stay the single source of truth in the state dict.
        key = (self.weight_int.data_ptr(), self.bias_int.data_ptr(), str(device))
        if getattr(self, "_cache_key", None) != key:
            self._cache = (self.weight_int.to(device, torch.float64), self.bias_int.to(device, torch.float64))
            self._cache_key = key
        return self._cache

    def forward_exact(self, x_int: Tensor) -> Tensor:
        """Exact path on float64 fixed-point integers; returns fixed-point integers (ACT_BITS)."""
        if not self.frozen:
            raise RuntimeError("ExactConv2d.freeze() (codec.update()) must run before exact inference")
        w, b = self._float64_weights(x_int.device)
        acc = _exact_conv(x_int, w, b, self.conv.padding[0])  # value * 2**(ACT+WEIGHT)
        if self.activation:
            acc = torch.where(acc < 0, acc * LEAKY_SLOPE, acc)
        out = torch.floor(acc * float(2**-WEIGHT_BITS) + 0.5)
        return torch.clamp(out, -ACT_LIMIT, ACT_LIMIT)


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
