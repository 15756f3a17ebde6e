"""Inter-frame latent coding: the contextual model and the training-free temporal-mean scheme.

Both code the latent ``y_t`` of frame ``t`` (the image codec's gain-scaled analysis latent) given the
previous *decoded* latent ``ctx = y_hat_{t-1}``, in the spirit of GNVC-VD's contextual latent coding
and of DCVC's conditional coding (Li et al., "Deep Contextual Video Compression", NeurIPS 2021): the
context is not subtracted and forgotten, it is an input of the entropy model and of the transforms,
so only what is new costs bits.

Why the decoded latent and never the encoder's: the decoder has only ``y_hat_{t-1}``, and the encoder
codes against exactly that (closed loop), so errors cannot accumulate along a GOP.

Why the whole latent chain is integer-exact: ``y_hat_t`` is the next frame's context and so feeds the
networks that choose CDFs. Were it computed in floating point, a GPU encoder and a CPU decoder would
disagree in the last bits from the first inter frame on, and the entropy decoder would lose sync.
So the context network, the slice networks *and* the contextual synthesis that turns decoded symbols
into ``y_hat_t`` are :class:`~dicodec.codec.fixed_point.ExactConv2d` stacks; only encoder-side parts
(contextual analysis, hyper-analysis) and the pixel synthesis run in float (docs/exact_entropy.md).

Two inter schemes, named in the video header (docs/bitstream.md, part II):

* :class:`TemporalMeanInter` (no inter model, ``inter_model = ""``): the image codec's own hyperprior
  and scales, with the context as the mean of every element. It needs no training, so it is what a
  clip is coded with while no trained contextual model ships. (Coding ``y_t - ctx`` with the image
  latent codec instead was tried and cost twice the bits of intra coding: its hyperprior and mean
  prediction were trained on latents, not on differences; docs/video.md.)
* :class:`ContextualLatentCodec`: the learned model (train with
  ``dicodec.codec.training.video_train``). Initialised so that, before training, the mean of every
  element is its context (temporal prediction) and the contextual transforms are the identity.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor, nn

from dicodec.bitstream.video import MAX_SCALE_SHIFT
from dicodec.codec import grouped_ans
from dicodec.codec.config import CodecConfig
from dicodec.codec.fixed_point import (
    ACT_BITS,
    ACT_LIMIT,
    ExactConv2d,
    ExactSequential,
    fake_quantize,
    quantize_activation_exact,
    ste_round,
)
from dicodec.codec.latent_codec import (
    LOG_SCALE_MAX,
    LOG_SCALE_MIN,
    SYMBOL_LIMIT,
    LatentCodec,
    bound_toward,
    gaussian_likelihood,
    scale_index_exact,
)

_ONE = float(2**ACT_BITS)
LATENT_LIMIT = ACT_LIMIT / _ONE  # +-4096: the range of every exact latent (context and decoded)


def clamp_latent(y: Tensor) -> Tensor:
    """Keep a decoded latent inside the exact fixed-point range (a no-op on anything an encoder makes;
    bounds what a hostile stream can build up along a GOP)."""
    return y.clamp(-LATENT_LIMIT, LATENT_LIMIT)


def _strings(
    lc: LatentCodec, z_symbols: Tensor, slices: list[tuple[Tensor, Tensor]], coder: ModuleType
) -> list[bytes]:
    """The range-coded strings of an inter frame: z with ``lc``'s factorized prior, then every slice's
    symbols with the scale tables their indexes pick (both inter schemes' ``compress``)."""
    _, y_tables = lc._coding_tables()
    strings = [lc._encode_z(z_symbols, coder)]
    for symbols, index in slices:
        strings.append(coder.encode(symbols.cpu().numpy(), index.cpu().numpy(), y_tables))
    return strings


def shift_scale_index(index: Tensor, shift: int) -> Tensor:
    """A slice's scale-table indexes narrowed by ``shift`` table steps (clamped at the narrowest): the
    scales a video 2.x inter frame codes the slice with (docs/bitstream.md II.6). Integer arithmetic."""
    return (index - shift).clamp_(min=0) if shift else index


def shifted_strings(
    lc: LatentCodec, z_symbols: Tensor, slices: list[tuple[Tensor, Tensor]], coder: ModuleType
) -> tuple[list[bytes], tuple[int, ...]]:
    """:func:`_strings` with each slice's scale shift chosen by trying every shift (0..
    :data:`~dicodec.bitstream.video.MAX_SCALE_SHIFT`) and keeping the shortest string.

    Why: the scales come from models fitted to *spatial* uncertainty (an intra frame's, or a contextual
    model's at the rates it was trained for), while what is left after a good temporal prediction is
    often much smaller; a per-slice shift, signalled in the frame, lets the encoder narrow them where
    that pays (measured on clips rendered from training photos with an almost still camera: the
    temporal mean's inter frames fall from 0.44-0.67 to 0.20-0.31 of intra bits, docs/video.md). The
    symbols and the decoded latent do not depend on it: only the bits do.
    """
    _, y_tables = lc._coding_tables()
    strings, shifts = [lc._encode_z(z_symbols, coder)], []
    for symbols, index in slices:
        values, best = symbols.cpu().numpy(), None
        for shift in range(MAX_SCALE_SHIFT + 1):
            string = coder.encode(values, shift_scale_index(index, shift).cpu().numpy(), y_tables)
            if best is None or len(string) < len(best[0]):
                best = (string, shift)
        strings.append(best[0])  # type: ignore[index]
        shifts.append(best[1])  # type: ignore[index]
    return strings, tuple(shifts)


class ContextualLatentCodec(LatentCodec):
    """Conditional entropy model with contextual analysis and synthesis, for inter frames.

    The hyperprior of :class:`~dicodec.codec.latent_codec.LatentCodec` (z, its factorized prior and
    exact hyper-synthesis, and the channel-slice networks) with the context ``ctx`` added:

    * contextual analysis (float, encoder only): ``y' = y + A([y, ctx])``;
    * hyper-analysis of ``[y', ctx]``, so z describes what the context does not;
    * exact context network ``C(ctx)``, an input of every slice network; slice ``i``'s mean is
      ``ctx_i + mu_i`` and its scale ``exp(s_i)``, both predicted from ``[hyper, C(ctx), y'_<i]``;
    * exact contextual synthesis: ``y_hat = y_hat' + S([y_hat', ctx])``.

    ``A``, ``S`` and the mean outputs start at zero, so an untrained model codes ``y - ctx`` with scales
    from the hyperprior: temporal prediction, what training starts from.

    Args:
        config: the image codec's config (its latent, hyper and slice sizes are shared).
        context_hidden: width of the context network and of the contextual transforms.
    """

    def __init__(self, config: CodecConfig, context_hidden: int = 64):
        m, h, s = config.latent_channels, config.hyper_channels, config.num_slices
        super().__init__(m, h, s, config.slice_hidden)
        self.config, self.context_hidden = config, context_hidden
        c, k = self.slice_channels, context_hidden
        self.hyper_analysis[0] = nn.Conv2d(2 * m, h, 3, padding=1)
        self.analysis = nn.Sequential(
            nn.Conv2d(2 * m, k, 3, padding=1), nn.LeakyReLU(0.125), nn.Conv2d(k, m, 3, padding=1)
        )
        self.context_net = ExactSequential(ExactConv2d(m, k, 3), ExactConv2d(k, k, 3))
        self.slice_nets = nn.ModuleList(
            ExactSequential(
                ExactConv2d(2 * h + k + i * c, config.slice_hidden, 3),
                ExactConv2d(config.slice_hidden, config.slice_hidden, 3),
                ExactConv2d(config.slice_hidden, 2 * c, 3, activation=False),
            )
            for i in range(s)
        )
        self.synthesis = ExactSequential(ExactConv2d(2 * m, k, 3), ExactConv2d(k, m, 3, activation=False))
        self.scale_bound = "toward"
        with torch.no_grad():  # the identity / temporal-prediction start described above
            for layer in (self.analysis[-1], self.synthesis[-1].conv):
                layer.weight.zero_()
                layer.bias.zero_()
            for net in self.slice_nets:
                net[-1].conv.weight[:c].zero_()
                net[-1].conv.bias[:c].zero_()

    # ------------------------------------------------------------------ training
    def forward(self, y: Tensor, ctx: Tensor, noisy_rate: bool = True) -> dict:  # type: ignore[override]
        """Training pass: ``y_hat`` (straight-through), likelihoods of ``y'`` and ``z``."""
        ctx = fake_quantize(ctx, ACT_BITS, ACT_LIMIT)
        y = y + self.analysis(torch.cat([y, ctx], 1))
        z = self.hyper_analysis(torch.cat([y, ctx], 1))
        z_offset = self.entropy_bottleneck._get_medians()
        z_hat = ste_round(z - z_offset) + z_offset
        z_likelihoods = self._z_likelihoods(z if noisy_rate else z_hat, noisy=noisy_rate)
        hyper = self.hyper_synthesis(z_hat)[..., : y.shape[-2], : y.shape[-1]]
        feat = self.context_net(ctx)
        ctx_slices = ctx.chunk(self.num_slices, 1)
        y_hat_slices: list[Tensor] = []
        likelihoods = []
        for i, y_i in enumerate(y.chunk(self.num_slices, 1)):
            mu, log_scale = self.slice_nets[i](torch.cat([hyper, feat, *y_hat_slices], 1)).chunk(2, 1)
            mean = fake_quantize(ctx_slices[i] + mu, ACT_BITS, ACT_LIMIT)
            scale = torch.exp(bound_toward(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX))
            y_hat_i = ste_round(y_i - mean) + mean
            rate_at = y_i + torch.empty_like(y_i).uniform_(-0.5, 0.5) if noisy_rate else y_hat_i
            likelihoods.append(gaussian_likelihood(rate_at, mean, scale))
            y_hat_slices.append(y_hat_i)
        y_hat = torch.cat(y_hat_slices, 1)
        y_hat = y_hat + self.synthesis(torch.cat([y_hat, ctx], 1))
        return {"y_hat": y_hat, "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    def update(self) -> None:
        super().update()
        self.context_net.freeze()
        self.synthesis.freeze()

    # ------------------------------------------------------------------ exact coding
    def _context(self, ctx: Tensor, y_shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        if tuple(ctx.shape) != tuple(y_shape):
            raise ValueError(f"context {tuple(ctx.shape)} does not match the latent {tuple(y_shape)}")
        ctx_int = quantize_activation_exact(ctx)
        return ctx_int, self.context_net.forward_exact(ctx_int)

    def _params(self, i: int, hyper_int, feat_int, ctx_int, y_hat_ints) -> tuple[Tensor, Tensor]:
        params = self.slice_nets[i].forward_exact(torch.cat([hyper_int, feat_int, *y_hat_ints], 1))
        mu_int, log_scale_int = params.chunk(2, 1)
        mean_int = torch.clamp(ctx_int.chunk(self.num_slices, 1)[i] + mu_int, -ACT_LIMIT, ACT_LIMIT)
        return mean_int, scale_index_exact(log_scale_int)

    def _finish(self, y_hat_ints: list[Tensor], ctx_int: Tensor) -> Tensor:
        y_int = torch.cat(y_hat_ints, 1)
        out = y_int + self.synthesis.forward_exact(torch.cat([y_int, ctx_int], 1))
        return (torch.clamp(out, -ACT_LIMIT, ACT_LIMIT) / _ONE).float()

    def _encode(self, y: Tensor, ctx: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]], Tensor]:
        """The one copy of the inter encoder's arithmetic: z symbols, ``(symbols, scale index)`` of each
        slice, and the decoded latent. :meth:`compress` codes it, :meth:`simulate_coding` returns it."""
        ctx_int, feat_int = self._context(ctx, tuple(y.shape))
        y = y + self.analysis(torch.cat([y, ctx], 1))
        z_symbols = self._z_symbols(torch.cat([y, ctx], 1))
        hyper_int = self._hyper_int(z_symbols, y.shape[-2:])
        slices: list[tuple[Tensor, Tensor]] = []
        y_hat_ints: list[Tensor] = []
        for i, y_i in enumerate(y.chunk(self.num_slices, 1)):
            mean_int, index = self._params(i, hyper_int, feat_int, ctx_int, y_hat_ints)
            symbols = torch.round(y_i.double() - mean_int / _ONE).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
            slices.append((symbols, index))
            y_hat_ints.append(self._next_context(symbols, mean_int))
        return z_symbols, slices, self._finish(y_hat_ints, ctx_int)

    @torch.no_grad()
    def compress(  # type: ignore[override]
        self, y: Tensor, ctx: Tensor, coder: ModuleType = grouped_ans
    ) -> tuple[list[bytes], Tensor]:
        """Code one latent (1, M, h, w) given its context; returns the strings and the decoded latent."""
        z_symbols, slices, y_hat = self._encode(y, ctx)
        return _strings(self, z_symbols, slices, coder), y_hat

    @torch.no_grad()
    def compress_shifted(
        self, y: Tensor, ctx: Tensor, coder: ModuleType = grouped_ans
    ) -> tuple[list[bytes], tuple[int, ...], Tensor]:
        """:meth:`compress` with the best scale shift per slice (:func:`shifted_strings`)."""
        z_symbols, slices, y_hat = self._encode(y, ctx)
        strings, shifts = shifted_strings(self, z_symbols, slices, coder)
        return strings, shifts, y_hat

    @torch.no_grad()
    def simulate_coding(self, y: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """What :meth:`decompress` returns for :meth:`compress`'s strings, for a batch, without a coder:
        ``y_hat`` and the scale-table index of every element (as
        :meth:`LatentCodec.simulate_coding <dicodec.codec.latent_codec.LatentCodec.simulate_coding>`)."""
        _, slices, y_hat = self._encode(y, ctx)
        return y_hat, torch.cat([index for _, index in slices], 1)

    @torch.no_grad()
    def decompress(  # type: ignore[override]
        self,
        strings: list[bytes],
        ctx: Tensor,
        coder: ModuleType = grouped_ans,
        with_scale_index: bool = False,
        scale_shift: tuple[int, ...] = (),
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Decode one latent from its strings and context.

        ``with_scale_index`` also returns the scale-table index every element was decoded with (as
        :meth:`LatentCodec.decompress <dicodec.codec.latent_codec.LatentCodec.decompress>`): the
        indexes the entropy decoder needed anyway, kept for a generative decode of the frame.
        ``scale_shift``: the frame's per-slice shifts (video 2.x, :func:`shift_scale_index`; empty: none).

        Raises:
            ValueError: symbols no encoder can produce (corrupt data).
        """
        if len(strings) != self.num_slices + 1:
            raise ValueError(f"expected {self.num_slices + 1} strings, got {len(strings)}")
        _, y_tables = self._coding_tables()
        h, w = ctx.shape[-2:]
        ctx_int, feat_int = self._context(ctx, tuple(ctx.shape))
        z_symbols = self._decode_z(strings[0], (h, w), ctx.device, coder)
        hyper_int = self._hyper_int(z_symbols, (h, w))
        y_hat_ints: list[Tensor] = []
        indexes: list[Tensor] = []
        for i in range(self.num_slices):
            mean_int, index = self._params(i, hyper_int, feat_int, ctx_int, y_hat_ints)
            index = shift_scale_index(index, scale_shift[i] if scale_shift else 0)
            indexes.append(index)
            values = coder.decode(strings[i + 1], index.cpu().numpy(), y_tables)
            if values.size and max(values.max(), -values.min()) > SYMBOL_LIMIT:
                raise ValueError("latent symbol out of range")
            symbols = torch.from_numpy(values).to(ctx.device, torch.float64)
            y_hat_ints.append(self._next_context(symbols, mean_int))
        y_hat = self._finish(y_hat_ints, ctx_int)
        return (y_hat, torch.cat(indexes, 1)) if with_scale_index else y_hat


def _copy_parameters(dst: nn.Module, src: nn.Module) -> None:
    """Float parameters only: integer weights and CDF tables are rebuilt by ``update()``."""
    for (name, p), (_, q) in zip(dst.named_parameters(), src.named_parameters(), strict=True):
        if p.shape != q.shape:
            raise ValueError(f"{name}: {tuple(p.shape)} != {tuple(q.shape)}")
        p.copy_(q)


def warm_start_from_image(model: ContextualLatentCodec, image_latent_codec: LatentCodec) -> None:
    """Copy what the image latent codec already knows into ``model`` (training starts from it): the
    factorized prior and hyper-synthesis as they are, and the first hyper-analysis layer's weights for
    ``y'`` (the context's start at zero). Expects float weights (``ExactConv2d.thaw`` a released file)."""
    with torch.no_grad():
        _copy_parameters(model.entropy_bottleneck, image_latent_codec.entropy_bottleneck)
        _copy_parameters(model.hyper_synthesis, image_latent_codec.hyper_synthesis)
        _copy_parameters(model.hyper_analysis[1:], image_latent_codec.hyper_analysis[1:])
        first, src = model.hyper_analysis[0], image_latent_codec.hyper_analysis[0]
        m = src.weight.shape[1]
        first.weight.zero_()
        first.weight[:, :m].copy_(src.weight)
        first.bias.copy_(src.bias)


class TemporalMeanInter:
    """Training-free inter coding: the image codec's hyperprior and scales, the context as the mean.

    z and the scale of every element come from the image latent codec as for an intra frame; the
    mean of element ``k`` is ``ctx_k`` instead of the slice network's spatial prediction, so the coded
    symbols are ``round(y - ctx)``, small wherever the latent did not change.
    """

    def __init__(self, latent_codec: LatentCodec):
        self.latent_codec = latent_codec

    def _means(self, ctx: Tensor) -> tuple[Tensor, ...]:
        return quantize_activation_exact(ctx).chunk(self.latent_codec.num_slices, 1)

    def _encode(self, y: Tensor, ctx: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]], Tensor]:
        """z symbols, ``(symbols, scale index)`` of each slice, decoded latent: what :meth:`compress`
        codes and :meth:`simulate_coding` returns (one copy of the arithmetic)."""
        lc = self.latent_codec
        z_symbols = lc._z_symbols(y)
        hyper_int = lc._hyper_int(z_symbols, y.shape[-2:])
        slices: list[tuple[Tensor, Tensor]] = []
        y_hat_ints: list[Tensor] = []
        for i, (y_i, mean_int) in enumerate(zip(y.chunk(lc.num_slices, 1), self._means(ctx), strict=True)):
            _, index = lc._slice_params(i, hyper_int, y_hat_ints)
            symbols = torch.round(y_i.double() - mean_int / _ONE).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
            slices.append((symbols, index))
            y_hat_ints.append(lc._next_context(symbols, mean_int))
        return z_symbols, slices, (torch.cat(y_hat_ints, 1) / _ONE).float()

    @torch.no_grad()
    def compress(self, y: Tensor, ctx: Tensor, coder: ModuleType = grouped_ans) -> tuple[list[bytes], Tensor]:
        z_symbols, slices, y_hat = self._encode(y, ctx)
        return _strings(self.latent_codec, z_symbols, slices, coder), y_hat

    @torch.no_grad()
    def compress_shifted(
        self, y: Tensor, ctx: Tensor, coder: ModuleType = grouped_ans
    ) -> tuple[list[bytes], tuple[int, ...], Tensor]:
        """:meth:`compress` with the best scale shift per slice (:func:`shifted_strings`)."""
        z_symbols, slices, y_hat = self._encode(y, ctx)
        strings, shifts = shifted_strings(self.latent_codec, z_symbols, slices, coder)
        return strings, shifts, y_hat

    @torch.no_grad()
    def simulate_coding(self, y: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:
        """What :meth:`decompress` returns for :meth:`compress`'s strings, for a batch, without a coder:
        ``y_hat`` and the scale-table index every element is coded with."""
        _, slices, y_hat = self._encode(y, ctx)
        return y_hat, torch.cat([index for _, index in slices], 1)

    @torch.no_grad()
    def decompress(
        self,
        strings: list[bytes],
        ctx: Tensor,
        coder: ModuleType = grouped_ans,
        with_scale_index: bool = False,
        scale_shift: tuple[int, ...] = (),
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Decode one latent from its strings and context; ``with_scale_index`` also returns the
        scale-table index of every element, as :meth:`ContextualLatentCodec.decompress` does;
        ``scale_shift``: the frame's per-slice shifts (video 2.x; empty: none).

        Raises:
            ValueError: symbols no encoder can produce (corrupt data).
        """
        lc = self.latent_codec
        if len(strings) != lc.num_slices + 1:
            raise ValueError(f"expected {lc.num_slices + 1} strings, got {len(strings)}")
        _, y_tables = lc._coding_tables()
        shape = tuple(ctx.shape[-2:])
        hyper_int = lc._hyper_int(lc._decode_z(strings[0], shape, ctx.device, coder), shape)
        y_hat_ints: list[Tensor] = []
        indexes: list[Tensor] = []
        for i, mean_int in enumerate(self._means(ctx)):
            _, index = lc._slice_params(i, hyper_int, y_hat_ints)
            index = shift_scale_index(index, scale_shift[i] if scale_shift else 0)
            indexes.append(index)
            values = coder.decode(strings[i + 1], index.cpu().numpy(), y_tables)
            if values.size and max(values.max(), -values.min()) > SYMBOL_LIMIT:
                raise ValueError("latent symbol out of range")
            symbols = torch.from_numpy(values).to(ctx.device, torch.float64)
            y_hat_ints.append(lc._next_context(symbols, mean_int))
        y_hat = (torch.cat(y_hat_ints, 1) / _ONE).float()
        return (y_hat, torch.cat(indexes, 1)) if with_scale_index else y_hat
