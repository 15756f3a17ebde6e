"""The integer-exact layers: exact against an int64 reference, close to the training path."""

from __future__ import annotations

import numpy as np
import torch

from dicodec.codec.fixed_point import (
    ACT_BITS,
    ExactConv2d,
    ExactSequential,
    PixelShuffleUp,
    quantize_activation_exact,
)


def int64_conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 'same' convolution in exact int64 arithmetic."""
    _, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((1, w.shape[0], h, wd), dtype=np.int64)
    for dy in range(3):
        for dx in range(3):
            patch = xp[:, :, dy : dy + h, dx : dx + wd]
            out += np.einsum("oc,bchw->bohw", w[:, :, dy, dx], patch)
    return out + b.reshape(1, -1, 1, 1)


class TestExactConv:
    def test_matches_int64_reference_with_large_values(self):
        torch.manual_seed(0)
        layer = ExactConv2d(24, 8, 3, activation=False)
        with torch.no_grad():
            layer.conv.weight.uniform_(-7.9, 7.9)  # near the weight limit
        layer.freeze()
        x_int = torch.randint(-(2**20), 2**20, (1, 24, 6, 7)).double()
        got = layer.forward_exact(x_int)
        acc = int64_conv_reference(
            x_int.long().numpy(), layer.weight_int.long().numpy(), layer.bias_int.numpy()
        )
        expected = np.clip(np.floor(acc / 2**12 + 0.5), -(2**20), 2**20)
        # The int64 path divides in float64 too, but acc is exact in both, so equality is required.
        assert np.array_equal(got.numpy(), expected)

    def test_thread_count_does_not_change_result(self):
        torch.manual_seed(1)
        net = ExactSequential(
            ExactConv2d(16, 32, 3), PixelShuffleUp(32, 16), ExactConv2d(16, 8, 3, activation=False)
        )
        net.freeze()
        x = quantize_activation_exact(torch.randn(1, 16, 9, 11) * 20)
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            one = net.forward_exact(x)
            torch.set_num_threads(2)
            two = net.forward_exact(x)
        finally:
            torch.set_num_threads(threads)
        assert torch.equal(one, two)

    def test_exact_path_agrees_with_training_path(self):
        torch.manual_seed(2)
        net = ExactSequential(ExactConv2d(8, 16, 3), ExactConv2d(16, 4, 3, activation=False))
        x = torch.randn(1, 8, 10, 10) * 3
        float_out = net(x)
        net.freeze()
        exact_out = net.forward_exact(quantize_activation_exact(x)) / 2**ACT_BITS
        assert torch.allclose(exact_out.float(), float_out, atol=4 / 2**ACT_BITS)

    def test_unfrozen_layer_refuses_exact_inference(self):
        layer = ExactConv2d(2, 2)
        try:
            layer.forward_exact(torch.zeros(1, 2, 3, 3, dtype=torch.float64))
        except RuntimeError as exc:
            assert "freeze" in str(exc)
        else:
            raise AssertionError("expected RuntimeError")
