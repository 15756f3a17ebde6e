"""The incremental slice networks and the GEMM convolution: the same integers as the definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dicodec.codec import registry
from dicodec.codec.fixed_point import ExactConv2d, ShiftedInput, exact_conv, quantize_activation_exact
from dicodec.codec.slice_context import SliceContext


def _conv2d_reference(layer: ExactConv2d, x_int: torch.Tensor) -> torch.Tensor:
    """What the exact path computed before the GEMM form: ``F.conv2d`` in float64, then the bias."""
    w, b = layer.weight_int.double(), layer.bias_int.double()
    with torch.backends.cudnn.flags(enabled=False):
        return F.conv2d(x_int, w, None, padding=layer.conv.padding[0]) + b.view(1, -1, 1, 1)


class TestShiftedGemmConvolution:
    @pytest.mark.parametrize(("kernel", "batch", "shape"), [(3, 1, (7, 9)), (3, 3, (5, 4)), (5, 2, (6, 11))])
    def test_equals_conv2d_for_worst_case_values(self, kernel, batch, shape):
        torch.manual_seed(kernel + batch)
        layer = ExactConv2d(12, 6, kernel, activation=False)
        with torch.no_grad():
            layer.conv.weight.uniform_(-7.99, 7.99)  # at the weight limit: sums near 2**48
        layer.freeze()
        x_int = torch.randint(-(2**20), 2**20 + 1, (batch, 12, *shape)).double()
        x = ShiftedInput(x_int, kernel)
        taps, bias = layer.float64_taps(x_int.device)
        got = x.crop(exact_conv(x, taps, bias))
        assert torch.equal(got, _conv2d_reference(layer, x_int))

    def test_requantized_output_is_the_old_formula(self):
        torch.manual_seed(3)
        layer = ExactConv2d(8, 5, 3, activation=True)
        layer.freeze()
        x_int = quantize_activation_exact(torch.randn(2, 8, 6, 7) * 30)
        acc = _conv2d_reference(layer, x_int)
        acc = torch.where(acc < 0, acc * 0.125, acc)
        expected = torch.clamp(torch.floor(acc * 2.0**-12 + 0.5), -(2**20), 2**20)
        assert torch.equal(layer.forward_exact(x_int), expected)


def _context_inputs(codec, batch: int, shape: tuple[int, int], seed: int):
    lc = codec.latent_codec
    gen = torch.Generator().manual_seed(seed)
    hyper_channels = lc.slice_nets[0][0].conv.in_channels
    hyper = quantize_activation_exact(torch.randn(batch, hyper_channels, *shape, generator=gen) * 8)
    slices = [
        quantize_activation_exact(torch.randn(batch, lc.slice_channels, *shape, generator=gen) * 4)
        for _ in range(lc.num_slices)
    ]
    return lc, hyper, slices


class TestSliceContext:
    @pytest.mark.parametrize("batch", [1, 2])
    def test_same_integers_as_the_concatenated_networks(self, tiny_codec, batch):
        lc, hyper, slices = _context_inputs(tiny_codec, batch, (5, 7), seed=batch)
        context = SliceContext(lc.slice_nets, hyper, lc.slice_channels)
        for i, y_int in enumerate(slices):
            direct = lc.slice_nets[i].forward_exact(torch.cat([hyper, *slices[:i]], 1))
            assert torch.equal(context.params(i), direct)
            context.add(i, y_int)

    def test_shipped_model_same_integers(self):
        codec = registry.load(registry.get_entry(None).name, "cpu")
        lc, hyper, slices = _context_inputs(codec, 1, (6, 9), seed=7)
        context = SliceContext(lc.slice_nets, hyper, lc.slice_channels)
        for i, y_int in enumerate(slices):
            mean_int, index = lc._split_params(context.params(i))
            ref_mean, ref_index = lc._slice_params(i, hyper, slices[:i])
            assert torch.equal(mean_int, ref_mean) and torch.equal(index, ref_index)
            context.add(i, y_int)

    def test_slices_must_come_in_order(self, tiny_codec):
        lc, hyper, slices = _context_inputs(tiny_codec, 1, (3, 3), seed=0)
        context = SliceContext(lc.slice_nets, hyper, lc.slice_channels)
        with pytest.raises(RuntimeError, match="added first"):
            context.params(1)
        with pytest.raises(RuntimeError, match="out of order"):
            context.add(1, slices[1])

    def test_coding_round_trip_is_unchanged(self, tiny_codec):
        """compress (incremental encoder) and decompress (incremental decoder) agree with simulate_coding."""
        torch.manual_seed(4)
        y = torch.randn(1, tiny_codec.config.latent_channels, 4, 6) * 3
        lc = tiny_codec.latent_codec
        strings, y_hat = lc.compress(y, return_latent=True)
        decoded = lc.decompress(strings, (4, 6), torch.device("cpu"))
        simulated, _ = lc.simulate_coding(y)
        assert torch.equal(decoded, y_hat) and np.array_equal(decoded.numpy(), simulated.numpy())
