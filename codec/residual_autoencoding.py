"""Residual autoencoding: parameter-free shortcuts around the down- and up-sampling stages of a transform.

Chen et al., "Deep Compression Autoencoder for Efficient High-Resolution Diffusion Models" (DC-AE,
ICLR 2025), Sec. 3.2 "Residual Autoencoding": a stage that halves the resolution is taught the
*residual* over a fixed space-to-channel rearrangement of its input, and a stage that doubles it the
residual over channel-to-space. A down stage from C to C' channels adds

    shortcut(x) = average of groups of 4C/C' channels of pixel_unshuffle(x, 2)     (space-to-channel)

and an up stage adds

    shortcut(x) = pixel_shuffle(each channel repeated 4C'/C times, 2)              (channel-to-space)

(``PixelUnshuffleChannelAveragingDownSampleLayer`` and
``ChannelDuplicatingPixelUnshuffleUpSampleLayer`` of DC-AE's code, the latter a pixel shuffle despite
its name). These keep the information of the input instead of asking strided convolutions to learn
it, which is why DC-AE's 32x and 64x autoencoders train fast and reconstruct well where plain ones of
the same size saturate; dicodec's 32x transforms saturate the same way (~29 dB without quantisation
on held-out photos, docs/models.md).

Where channel counts do not divide, DC-AE never goes (its widths are chosen so that they do), but the
outermost stages here go from 3 to N channels and from N back to 3. :func:`channel_groups` gives the
same map in every case: output channel ``j`` averages the contiguous input channels ``i`` with
``floor(i * C_out / C_in) == j`` when channels shrink, and copies input channel ``floor(j * C_in /
C_out)`` when they grow. For divisible counts that is exactly DC-AE's averaging or ``repeat_interleave``;
otherwise groups differ in size by one (12 -> 160: each channel copied 13 or 14 times).

Each shortcut is scaled by a learnable per-channel gate that starts at zero (as ReZero and DiT's
adaLN-zero start their residual branches): a transform with shortcuts computes exactly what the same
transform without them computes until training opens the gates, so a preset with shortcuts
warm-starts from released weights without losing a step. DC-AE trains from scratch and has no gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def channel_groups(c_in: int, c_out: int) -> list[list[int]]:
    """For each output channel, the input channels it averages (shrinking) or copies (growing)."""
    if c_in >= c_out:
        groups: list[list[int]] = [[] for _ in range(c_out)]
        for i in range(c_in):
            groups[i * c_out // c_in].append(i)
        return groups
    return [[j * c_in // c_out] for j in range(c_out)]


class ChannelResample(nn.Module):
    """Change the channel count without parameters: average groups of channels, or repeat channels.

    Divisible counts take DC-AE's reshape-and-mean or ``repeat_interleave``; others an index (growing)
    or a fixed averaging matrix (shrinking), both non-persistent buffers, so weights files hold none.

    Args:
        c_in: input channels.
        c_out: output channels.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        groups = channel_groups(c_in, c_out)
        self.mode = "average" if c_in >= c_out else "repeat"
        self.even = (c_in % c_out == 0) if c_in >= c_out else (c_out % c_in == 0)
        if self.even:
            return
        if self.mode == "repeat":
            self.register_buffer("index", torch.tensor([g[0] for g in groups]), persistent=False)
        else:
            matrix = torch.zeros(c_out, c_in, 1, 1)
            for j, group in enumerate(groups):
                matrix[j, group] = 1.0 / len(group)
            self.register_buffer("matrix", matrix, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "average":
            if self.even:
                return x.unflatten(1, (self.c_out, self.c_in // self.c_out)).mean(2)
            return F.conv2d(x, self.matrix.to(x.dtype))
        if self.even:
            return x.repeat_interleave(self.c_out // self.c_in, dim=1)
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"{self.c_in} -> {self.c_out}, {self.mode}{'' if self.even else ', uneven groups'}"


class ResidualShortcut(nn.Module):
    """The gated shortcut of one stride-2 stage: ``gate * (space-to-channel, then channel averaging)``
    for a down stage, ``gate * (channel duplication, then channel-to-space)`` for an up stage.

    The stage it bypasses runs from layer ``start`` to layer ``end`` of its transform (the strided
    convolution and the GDN / IGDN after it), so the shortcut skips the nonlinearity as DC-AE's skips
    its whole down- or up-sampling block. Where the stage keeps its channel count the two shortcuts are
    a 2x2 average pool and a nearest-neighbour upsampling (each output channel averages, or each input
    channel fills, the four sub-pixels of one channel), computed as such: the same numbers, in about
    half the time of the rearrangement on the CPU.

    Args:
        c_in: channels of the stage's input.
        c_out: channels of the stage's output.
        up: an up stage (channel-to-space) instead of a down stage (space-to-channel).
        start: index of the stage's first layer in its transform.
        end: index of the stage's last layer.
    """

    def __init__(self, c_in: int, c_out: int, up: bool, start: int, end: int):
        super().__init__()
        self.up, self.start, self.end = up, start, end
        self.same_width = c_in == c_out
        self.resample = ChannelResample(c_in, 4 * c_out) if up else ChannelResample(4 * c_in, c_out)
        self.gate = nn.Parameter(torch.zeros(c_out))  # zero: the stage alone, as the released weights

    def shortcut(self, x: Tensor) -> Tensor:
        """The ungated, parameter-free shortcut of the stage input ``x``."""
        if self.same_width:
            return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else F.avg_pool2d(x, 2)
        return F.pixel_shuffle(self.resample(x), 2) if self.up else self.resample(F.pixel_unshuffle(x, 2))

    def forward(self, out: Tensor, x: Tensor) -> Tensor:
        """``out + gate * shortcut(x)`` for the stage output ``out`` and its input ``x`` (one fused
        multiply-add, in ``out``'s dtype under autocast)."""
        gate = self.gate.view(1, -1, 1, 1).to(out.dtype)
        return torch.addcmul(out, self.shortcut(x).to(out.dtype), gate)

    def extra_repr(self) -> str:
        return f"{'up' if self.up else 'down'}, layers {self.start}..{self.end}"
