"""The frozen image codec the DiT decoder trains on, and the training latents it gives.

The DiT side trains on the latents the decoder will see in a file: the clean encoder latent (what
synthesis would get without quantisation), the decoded latent ``y_hat`` and the scale each element was
coded with. :meth:`~dicodec.codec.latent_codec.LatentCodec.simulate_coding` gives the last two for a
whole batch of crops, with the encoder's own integer arithmetic and no range coder.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dicodec.codec.config import PRESETS
from dicodec.codec.latent_codec import coding_scales
from dicodec.codec.model import ImageCodec


def load_frozen_codec(spec: str, device: torch.device) -> ImageCodec:
    """The frozen image codec: a registry name (its hash-checked file, found or fetched like a decode's),
    a weights file, or ``preset:NAME`` for a seeded random one (tests)."""
    if spec.startswith("preset:"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            codec = ImageCodec(PRESETS[spec.split(":", 1)[1]])
            with torch.no_grad():  # a spread of coding scales, as in tests/conftest.py
                for net in codec.latent_codec.slice_nets:
                    net[-1].conv.bias.uniform_(-1.0, 2.0)
        codec.update()
    else:
        from dicodec.codec import registry
        from dicodec.codec.weights_io import load_codec_file

        known = {e.name: e for e in registry.entries() if e.weights is not None}
        codec = (
            load_codec_file(known[spec].weights, known[spec].sha256)
            if spec in known
            else load_codec_file(spec)
        )
    return codec.to(device).eval().requires_grad_(False)


@torch.no_grad()
def codec_latents(codec: ImageCodec, x: Tensor, level: Tensor, coded: bool = True) -> dict[str, Tensor]:
    """Training latents of a batch of crops at continuous gain levels, in the synthesis domain.

    Returns ``clean`` (the encoder latent ``analysis(x) * gain * inverse_gain``: what synthesis would get
    without quantisation) and, if ``coded``, ``y_hat`` (what the decoder gets) and ``sigma`` (coding
    scales), each (B, M, h, w).
    """
    gain, inverse_gain = codec.gains(level)
    y = codec.analysis(x) * gain
    out = {"clean": y * inverse_gain}
    if coded:
        y_hat, index = codec.latent_codec.simulate_coding(y)
        out.update(y_hat=y_hat * inverse_gain, sigma=coding_scales(index) * inverse_gain)
    return out
