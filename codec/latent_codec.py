"""Hyperprior latent codec with channel-conditional context and integer-exact entropy parameters.

The structure is the mean-scale hyperprior of Minnen et al. ("Joint Autoregressive and Hierarchical
Priors for Learned Image Compression", NeurIPS 2018) with the channel-wise autoregressive context of
Minnen & Singh ("Channel-wise Autoregressive Entropy Models for Learned Image Compression", ICIP 2020):
the latent is cut into slices along channels, and the mean and scale of slice ``i`` are predicted from
the hyperprior features and the already decoded slices ``< i``. Channel context adds no sequential
spatial steps, so decoding stays a handful of convolutions.

Everything that chooses a CDF (hyper-synthesis and slice networks) is built from
:class:`~dicodec.codec.fixed_point.ExactConv2d`, so the scale index and the mean of every symbol are
integers computed exactly on any device. The scale is predicted as a fixed-point natural log and mapped
to one of ``SCALE_LEVELS`` CDF tables by integer arithmetic; the CDF tables themselves are integer
buffers stored in the weights file.

Workflow (as in CompressAI): train with :meth:`forward`; call :meth:`update` once to freeze the integer
weights and build the CDF tables; then :meth:`compress` / :meth:`decompress`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import torch
from torch import Tensor, nn

from dicodec.codec import compressai_lazy, grouped_ans, rans
from dicodec.codec.fixed_point import (
    ACT_BITS,
    ACT_LIMIT,
    ExactConv2d,
    ExactSequential,
    PixelShuffleUp,
    fake_quantize,
    quantize_activation_exact,
    ste_round,
)
from dicodec.codec.slice_context import SliceContext
from dicodec.codec.timing import section

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _entropy_models = compressai_lazy.import_entropy_models()  # scipy.stats deferred: 0.4-1.0 s
EntropyBottleneck = _entropy_models.EntropyBottleneck
GaussianConditional = _entropy_models.GaussianConditional

# Scale table: sigma_j = exp(LOG_SCALE_MIN + j * LOG_SCALE_STEP), j = 0..SCALE_LEVELS-1.
# A step of 1/8 in log-scale costs under 0.1% in rate against continuous scales; both ends are
# multiples of the fixed-point resolution so the index is pure integer arithmetic.
LOG_SCALE_MIN = -2.5  # sigma 0.082: below this the bin [-0.5, 0.5] already holds ~100% of the mass
LOG_SCALE_STEP = 0.125
SCALE_LEVELS = 64  # top: exp(5.375) = 216
LOG_SCALE_MAX = LOG_SCALE_MIN + LOG_SCALE_STEP * (SCALE_LEVELS - 1)
SYMBOL_LIMIT = 4000  # |round(y - mu)| bound; a larger decoded symbol means a corrupt stream
LIKELIHOOD_BOUND = 1e-9

_ONE = float(2**ACT_BITS)
_LS_MIN_INT = int(LOG_SCALE_MIN * _ONE)
_LS_STEP_INT = int(LOG_SCALE_STEP * _ONE)


def scale_table() -> Tensor:
    return torch.exp(LOG_SCALE_MIN + LOG_SCALE_STEP * torch.arange(SCALE_LEVELS, dtype=torch.float64)).float()


def coding_scales(index: Tensor) -> Tensor:
    """The scale (sigma, gain-scaled latent units) of each scale-table index, on the index's device."""
    return scale_table().to(index.device)[index.long()]


def scale_index_exact(log_scale_int: Tensor) -> Tensor:
    """Nearest scale-table entry for a fixed-point log-scale, in exact integer arithmetic."""
    idx = torch.floor((log_scale_int - _LS_MIN_INT + _LS_STEP_INT // 2) / _LS_STEP_INT)
    return torch.clamp(idx, 0, SCALE_LEVELS - 1).to(torch.int32)


def gaussian_likelihood(y: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """P(round(y) bin) under N(mean, scale^2): Phi((|y-m|+.5)/s) - Phi((|y-m|-.5)/s), computed stably."""
    v = torch.abs(y - mean)
    c = -(2**-0.5)
    upper = 0.5 * torch.erfc(c * (0.5 - v) / scale)
    lower = 0.5 * torch.erfc(c * (-0.5 - v) / scale)
    return torch.clamp(upper - lower, min=LIKELIHOOD_BOUND)


def _bound_ste(x: Tensor, lo: float, hi: float) -> Tensor:
    """Clamp with a straight-through gradient everywhere (the bound of hp32-v1..v4)."""
    return x + (x.clamp(lo, hi) - x).detach()


class _BoundToward(torch.autograd.Function):
    """Clamp whose gradient passes inside ``[lo, hi]`` and, outside, only where it points back in.

    CompressAI's ``LowerBound`` rule, on both ends. Why: with the plain straight-through clamp a
    log-scale below ``LOG_SCALE_MIN`` (a "dead" element, symbol 0) keeps receiving "smaller is better"
    gradients that change nothing in the forward pass, so it drifts without limit. In ``hp32-v4`` the
    slice networks' log-scales reach -3,000 to -6,000 (the bound is -2.5) and their hidden activations
    grow to match; a log-scale that is a difference of such numbers flips to the largest table scale
    under a small change of input or weights, which is the late rate blow-up on unseen photos
    (docs/training.md, "The late rate blow-up").
    """

    @staticmethod
    def forward(ctx, x: Tensor, lo: float, hi: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        # descent moves x by -grad: below lo only a negative gradient (x up) passes, above hi a positive
        keep = ((x >= ctx.lo) | (grad < 0)) & ((x <= ctx.hi) | (grad > 0))
        return grad * keep, None, None


def bound_toward(x: Tensor, lo: float, hi: float) -> Tensor:
    return _BoundToward.apply(x, lo, hi)


def log_scale_excess(log_scale: Tensor, margin: float = 1.0) -> Tensor:
    """Per-sample sum of how far log-scales lie outside the table's range widened by ``margin``.

    A training penalty on it pulls drifted log-scales (see :class:`_BoundToward`) back towards the
    range the coder can use, which shrinks the activations that produced them; within the margin it
    is zero, so it does not bias any scale the coder can represent.
    """
    below = torch.relu(LOG_SCALE_MIN - margin - log_scale)
    above = torch.relu(log_scale - LOG_SCALE_MAX - margin)
    return (below + above).flatten(1).sum(1)


class LatentCodec(nn.Module):
    """Entropy model and coder for the (gain-scaled) analysis latent ``y``.

    Args:
        latent_channels: channels of ``y`` (M).
        hyper_channels: channels of the hyper-latent ``z`` (downscaled 4x more than ``y``).
        num_slices: channel slices of ``y`` coded one after another.
        slice_hidden: width of the slice networks.
    """

    def __init__(self, latent_channels: int, hyper_channels: int, num_slices: int, slice_hidden: int):
        super().__init__()
        if latent_channels % num_slices:
            raise ValueError("latent_channels must be divisible by num_slices")
        self.num_slices = num_slices
        self.slice_channels = latent_channels // num_slices
        m, h = latent_channels, hyper_channels
        # Hyper-analysis runs only in the encoder: plain float layers are fine.
        self.hyper_analysis = nn.Sequential(
            nn.Conv2d(m, h, 3, padding=1),
            nn.LeakyReLU(0.125),
            nn.Conv2d(h, h, 5, stride=2, padding=2),
            nn.LeakyReLU(0.125),
            nn.Conv2d(h, h, 5, stride=2, padding=2),
        )
        self.entropy_bottleneck = EntropyBottleneck(h)
        hyper_out = 2 * h
        self.hyper_synthesis = ExactSequential(
            ExactConv2d(h, h, 3),
            PixelShuffleUp(h, h),
            PixelShuffleUp(h, h),
            ExactConv2d(h, hyper_out, 3),
        )
        c = self.slice_channels
        self.slice_nets = nn.ModuleList(
            ExactSequential(
                ExactConv2d(hyper_out + i * c, slice_hidden, 3),
                ExactConv2d(slice_hidden, slice_hidden, 3),
                ExactConv2d(slice_hidden, 2 * c, 3, activation=False),
            )
            for i in range(num_slices)
        )
        self.gaussian = GaussianConditional(scale_table().tolist())
        # Training only (set by the trainer, not saved): "ste" is the bound hp32-v1..v4 trained with,
        # "toward" the one that stops log-scales drifting (bound_toward).
        self.scale_bound = "ste"

    # ------------------------------------------------------------------ training
    def forward(self, y: Tensor, noisy_rate: bool = True) -> dict[str, Tensor]:
        """Noisy-rate / straight-through forward pass.

        Returns ``y_hat`` (what the decoder will see, with straight-through gradients), the
        likelihoods of ``y`` and ``z`` for the rate term, and ``scale_excess`` (per sample, see
        :func:`log_scale_excess`) for an optional penalty. ``noisy_rate=False`` takes the likelihoods
        of the rounded symbols instead of noisy values: the rate the coder will spend (within ~0.5%
        for ``hp32-v4``), where the noisy proxy overstates it up to 4x at low qualities (a symbol-0
        element at the smallest scale costs ~0 bits coded, ~0.2 bits noisy).
        """
        z = self.hyper_analysis(y)
        z_offset = self.entropy_bottleneck._get_medians()
        z_hat = ste_round(z - z_offset) + z_offset
        z_likelihoods = self._z_likelihoods(z if noisy_rate else z_hat, noisy=noisy_rate)
        hyper = self.hyper_synthesis(z_hat)[..., : y.shape[-2], : y.shape[-1]]
        y_hat_slices: list[Tensor] = []
        likelihoods = []
        excess = y.new_zeros(y.shape[0])
        bound = bound_toward if self.scale_bound == "toward" else _bound_ste
        for i, y_i in enumerate(y.chunk(self.num_slices, 1)):
            params = self.slice_nets[i](torch.cat([hyper, *y_hat_slices], 1))
            mean, log_scale = params.chunk(2, 1)
            mean = fake_quantize(mean, ACT_BITS, ACT_LIMIT)
            excess = excess + log_scale_excess(log_scale)
            scale = torch.exp(bound(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX))
            y_hat_i = ste_round(y_i - mean) + mean
            rate_at = y_i + torch.empty_like(y_i).uniform_(-0.5, 0.5) if noisy_rate else y_hat_i
            likelihoods.append(gaussian_likelihood(rate_at, mean, scale))
            y_hat_slices.append(y_hat_i)
        return {
            "y_hat": torch.cat(y_hat_slices, 1),
            "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods},
            "scale_excess": excess,
        }

    def _z_likelihoods(self, z: Tensor, noisy: bool = True) -> Tensor:
        """Noisy-rate likelihoods of ``z`` under the factorized prior (``noisy=False``: of ``z`` as
        given, e.g. already rounded).

        What ``EntropyBottleneck.forward`` computes in training mode, with a fixed channel-first
        transpose instead of its permutation held in a tensor: unpacking that tensor reads it back
        from the device (three host-device synchronisations per step) and breaks ``torch.compile``'s
        graph.
        """
        eb = self.entropy_bottleneck
        zt = z.transpose(0, 1)  # (C, B, h, w)
        values = zt.reshape(zt.shape[0], 1, -1)
        if noisy:
            values = values + torch.empty_like(values).uniform_(-0.5, 0.5)
        likelihood, _, _ = eb._likelihood(values)
        if eb.use_likelihood_bound:
            likelihood = eb.likelihood_lower_bound(likelihood)
        return likelihood.reshape(zt.shape).transpose(0, 1)

    def aux_loss(self) -> Tensor:
        return self.entropy_bottleneck.loss()

    # ------------------------------------------------------------------ freezing
    def update(self) -> None:
        """Freeze integer weights and build the integer CDF tables (call once after training)."""
        self.hyper_synthesis.freeze()
        for net in self.slice_nets:
            net.freeze()
        eb = self.entropy_bottleneck
        with torch.no_grad():  # round the quantiles to what an fp16 weights file holds, then tabulate
            eb.quantiles.copy_(eb.quantiles.half().float())
        eb.update(force=True)
        self.gaussian.update_scale_table(scale_table(), force=True)
        self._tables = None

    def resize_buffers_for(self, state: dict[str, Tensor], prefix: str) -> None:
        """Give CDF and integer-weight buffers the shapes found in ``state`` before ``load_state_dict``."""
        for name, buf in list(self.named_buffers()):
            key = prefix + name
            if key in state and state[key].shape != buf.shape:
                owner = self.get_submodule(name.rsplit(".", 1)[0]) if "." in name else self
                setattr(owner, name.rsplit(".", 1)[-1], torch.empty_like(state[key], device=buf.device))
        self._tables = None

    def _coding_tables(self) -> tuple[rans.CdfTables, rans.CdfTables]:
        if getattr(self, "_tables", None) is None:
            eb, gc = self.entropy_bottleneck, self.gaussian
            if eb._quantized_cdf.numel() == 0 or gc._quantized_cdf.numel() == 0:
                raise RuntimeError("LatentCodec.update() must run before compress/decompress")
            self._tables = (
                rans.CdfTables(eb._quantized_cdf, eb._cdf_length, eb._offset),
                rans.CdfTables(gc._quantized_cdf, gc._cdf_length, gc._offset),
            )
        return self._tables

    # ------------------------------------------------------------------ coding
    def _z_medians(self, device: torch.device) -> Tensor:
        return self.entropy_bottleneck._get_medians().detach().to(device).float().view(1, -1, 1, 1)

    def _slice_params(self, i: int, hyper_int: Tensor, y_hat_ints: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Slice ``i``'s mean and scale index from the concatenated context, as the networks define it.

        Image coding evaluates the same integers incrementally (:meth:`_slice_context`); this direct
        form is the definition the tests hold that to, and what the video codec's context reads.
        """
        params = self.slice_nets[i].forward_exact(torch.cat([hyper_int, *y_hat_ints], 1))
        return self._split_params(params)

    @staticmethod
    def _split_params(params: Tensor) -> tuple[Tensor, Tensor]:
        mean_int, log_scale_int = params.chunk(2, 1)
        return mean_int, scale_index_exact(log_scale_int)

    def _slice_context(self, hyper_int: Tensor) -> SliceContext:
        return SliceContext(self.slice_nets, hyper_int, self.slice_channels)

    def _z_symbols(self, y: Tensor) -> Tensor:
        """Hyper-latent symbols of ``y``: bounded like y's, so every coder can code them (3.x escapes
        hold < 2^15)."""
        z = self.hyper_analysis(y.float())
        return torch.round(z - self._z_medians(z.device)).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)

    def _hyper_int(self, z_symbols: Tensor, latent_shape: tuple[int, int]) -> Tensor:
        """The integer hyperprior features both coding directions compute from the z symbols."""
        z = quantize_activation_exact(z_symbols + self._z_medians(z_symbols.device))
        return self.hyper_synthesis.forward_exact(z)[..., : latent_shape[0], : latent_shape[1]]

    def _encode_slices(self, y: Tensor, hyper_int: Tensor) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """``(symbols, mean_int, scale_index)`` of each slice of ``y`` in coding order.

        The one copy of the encoder's integer arithmetic: :meth:`compress` codes its output,
        :meth:`simulate_coding` returns it without a coder, so the two cannot drift apart.
        """
        with section("exact_params"):
            context = self._slice_context(hyper_int)
        for i, y_i in enumerate(y.chunk(self.num_slices, 1)):
            with section("exact_params"):
                mean_int, index = self._split_params(context.params(i))
                symbols = torch.round(y_i.double() - mean_int / _ONE).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
            yield symbols, mean_int, index
            with section("exact_params"):
                context.add(i, self._next_context(symbols, mean_int))

    def _encode_z(self, z_symbols: Tensor, coder: ModuleType) -> bytes:
        """The z string: one table per channel of the factorized prior."""
        zc = z_symbols.shape[1]
        z_channel = torch.arange(zc, dtype=torch.int32).view(1, -1, 1, 1).expand(z_symbols.shape)
        with section("rans"):
            return coder.encode(z_symbols.cpu().numpy(), z_channel.numpy(), self._coding_tables()[0])

    def _decode_z(self, string: bytes, latent_shape: tuple[int, int], device: torch.device, coder) -> Tensor:
        """The z symbols of a latent of ``latent_shape`` (the inverse of :meth:`_encode_z`)."""
        zc = self.entropy_bottleneck.quantiles.shape[0]
        zh, zw = math.ceil(latent_shape[0] / 4), math.ceil(latent_shape[1] / 4)
        z_channel = np.broadcast_to(np.arange(zc, dtype=np.int32).reshape(1, -1, 1, 1), (1, zc, zh, zw))
        with section("rans"):
            z = coder.decode(string, z_channel, self._coding_tables()[0])
        return torch.from_numpy(z).to(device, torch.float32)

    @torch.no_grad()
    def compress(
        self, y: Tensor, coder: ModuleType = grouped_ans, return_latent: bool = False
    ) -> list[bytes] | tuple[list[bytes], Tensor]:
        """Code one latent ``(1, M, h, w)``; returns ``[z_string, y_slice_0, ..., y_slice_{S-1}]``.

        ``coder`` is the entropy coder of the target bitstream version: :mod:`~dicodec.codec.rans`
        (1.x, 2.x) or :mod:`~dicodec.codec.grouped_ans` (3.x); both code with the same tables.
        ``return_latent`` also returns the ``y_hat`` that :meth:`decompress` will give for the strings
        (exactly: the same integer arithmetic), which a video encoder needs as the next frame's context.
        """
        if y.shape[0] != 1:
            raise ValueError("compress codes one latent at a time")
        _, y_tables = self._coding_tables()
        with section("network"):
            z_symbols = self._z_symbols(y)
        strings = [self._encode_z(z_symbols, coder)]
        with section("exact_params"):
            hyper_int = self._hyper_int(z_symbols, y.shape[-2:])
        y_hat = []
        for symbols, mean_int, index in self._encode_slices(y, hyper_int):
            with section("rans"):
                strings.append(coder.encode(symbols.cpu().numpy(), index.cpu().numpy(), y_tables))
            if return_latent:
                y_hat.append(symbols + mean_int / _ONE)
        return (strings, torch.cat(y_hat, 1).float()) if return_latent else strings

    @torch.no_grad()
    def simulate_coding(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """What :meth:`decompress` returns for :meth:`compress`'s strings, for a batch, without a coder.

        Returns ``y_hat`` (float32, like ``y``) and the scale-table index each element is coded with
        (:func:`coding_scales` turns it into scales). The integer arithmetic is :meth:`compress`'s own;
        only the encoder-only hyper-analysis runs in float, so a batch may differ from one-at-a-time
        coding by float rounding there. For training the DiT decoder on the latents it will decode
        (``dicodec.codec.training.codec_latents``); needs a frozen codec (``update()`` or loaded
        weights).
        """
        hyper_int = self._hyper_int(self._z_symbols(y), y.shape[-2:])
        y_hat, indexes = [], []
        for symbols, mean_int, index in self._encode_slices(y, hyper_int):
            y_hat.append(symbols + mean_int / _ONE)
            indexes.append(index)
        return torch.cat(y_hat, 1).float(), torch.cat(indexes, 1)

    @staticmethod
    def _next_context(symbols: Tensor, mean_int: Tensor) -> Tensor:
        return torch.clamp(symbols * _ONE + mean_int, -ACT_LIMIT, ACT_LIMIT)

    @torch.no_grad()
    def decompress(
        self,
        strings: list[bytes],
        latent_shape: tuple[int, int],
        device: torch.device,
        with_scale_index: bool = False,
        coder: ModuleType = grouped_ans,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Decode ``[z, y_0..y_{S-1}]`` strings into ``y_hat`` of shape ``(1, M, h, w)`` (float32).

        ``with_scale_index`` also returns the scale-table index each element was coded with (same
        shape, on ``device``): the generative decode's variance guidance reads it, and taking it here
        saves re-running the hyper-synthesis and slice networks after the decode. ``coder``: as in
        :meth:`compress`, the one of the file's bitstream version.

        Raises:
            ValueError: the strings decode to symbols no encoder can produce (corrupt data).
        """
        if len(strings) != self.num_slices + 1:
            raise ValueError(f"expected {self.num_slices + 1} strings, got {len(strings)}")
        h, w = latent_shape
        _, y_tables = self._coding_tables()
        z_symbols = self._decode_z(strings[0], (h, w), device, coder)
        with section("exact_params"):
            context = self._slice_context(self._hyper_int(z_symbols, (h, w)))
        out, indexes = [], []
        for i in range(self.num_slices):
            with section("exact_params"):
                mean_int, index = self._split_params(context.params(i))
                if with_scale_index:
                    indexes.append(index)
                index = index.cpu().numpy()
            with section("rans"):
                values = coder.decode(strings[i + 1], index, y_tables)
            # in numpy: torch's CPU abs of int64 took ~0.9 ms per slice (scripts/profile_decode.py)
            if values.size and max(values.max(), -values.min()) > SYMBOL_LIMIT:
                raise ValueError("latent symbol out of range")
            symbols = torch.from_numpy(values).to(device, torch.float64)
            out.append(symbols + mean_int / _ONE)
            with section("exact_params"):
                context.add(i, self._next_context(symbols, mean_int))
        y_hat = torch.cat(out, 1).float()
        return (y_hat, torch.cat(indexes, 1)) if with_scale_index else y_hat
