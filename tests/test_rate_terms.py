"""The entropy model's training terms: the log-scale bound, its range penalty and the coded-rate mode."""

from __future__ import annotations

import pytest
import torch

from dicodec.codec.config import PRESETS
from dicodec.codec.latent_codec import LOG_SCALE_MAX, LOG_SCALE_MIN, bound_toward, log_scale_excess
from dicodec.codec.model import ImageCodec


def _grad(x0: float, upstream: float) -> float:
    x = torch.tensor([x0], requires_grad=True)
    (bound_toward(x, LOG_SCALE_MIN, LOG_SCALE_MAX) * upstream).sum().backward()
    return float(x.grad)


def test_bound_toward_clamps_and_passes_only_gradients_that_point_back_in():
    x = torch.tensor([LOG_SCALE_MIN - 5, 0.0, LOG_SCALE_MAX + 5])
    assert bound_toward(x, LOG_SCALE_MIN, LOG_SCALE_MAX).tolist() == [LOG_SCALE_MIN, 0.0, LOG_SCALE_MAX]
    assert _grad(0.0, 1.0) == 1.0 and _grad(0.0, -1.0) == -1.0  # inside: straight through
    below = LOG_SCALE_MIN - 100.0
    assert _grad(below, 1.0) == 0.0  # descent would push it further down: blocked (the drift)
    assert _grad(below, -1.0) == -1.0  # descent pulls it back up: passes
    above = LOG_SCALE_MAX + 100.0
    assert _grad(above, -1.0) == 0.0 and _grad(above, 1.0) == 1.0


def test_log_scale_excess_is_zero_within_the_margin_and_linear_beyond():
    inside = torch.tensor([[LOG_SCALE_MIN - 0.9, 0.0, LOG_SCALE_MAX + 0.9]])
    assert log_scale_excess(inside).tolist() == [0.0]
    out = torch.tensor([[LOG_SCALE_MIN - 11.0, LOG_SCALE_MAX + 3.0]])
    assert log_scale_excess(out).tolist() == [pytest.approx(10.0 + 2.0)]


@pytest.fixture(scope="module")
def tiny_codec() -> ImageCodec:
    torch.manual_seed(0)
    model = ImageCodec(PRESETS["tiny"])
    model.update()
    return model.eval()


def test_coded_rate_mode_is_deterministic_and_tracks_the_coder(tiny_codec):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 128, 128)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # some structure, not white noise
    level = torch.zeros(1)
    with torch.no_grad():
        a = tiny_codec(x, level, noisy_rate=False)
        b = tiny_codec(x, level, noisy_rate=False)
    bits = sum(float((-torch.log2(lik)).sum()) for lik in a["likelihoods"].values())
    assert bits == sum(float((-torch.log2(lik)).sum()) for lik in b["likelihoods"].values())
    coded = 8 * sum(len(s) for s in tiny_codec.compress(x, 0))
    # rANS adds a few bytes per string (6 strings); the estimate is the information content
    assert abs(coded - bits) < 0.1 * bits + 8 * 6 * 8
    assert a["scale_excess"].shape == (1,)
