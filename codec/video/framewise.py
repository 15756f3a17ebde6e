"""Per-frame ("framewise") generative decoding of a clip: the image DiT decoder on every frame alone.

GNVC-VD (Video, part 2) argues that decoding each frame of a clip with a per-frame generative image
decoder flickers, because every frame's texture is re-synthesised independently, and that a video
refinement over a group of frames does not. This module is the first half of that comparison: the
baseline. It is *not* the video refinement (:mod:`dicodec.codec.video.refiner`), for which
``dicodec.decode_video(mode="generative")`` is reserved and which still refuses; it is library-internal,
measured by ``dicodec eval`` as the ``dicodec-framegen`` curve (:mod:`dicodec.eval.video`).

Every frame gets exactly the one-step DiT-IC decode an image of the clip's quality gets from
``dicodec.decode(mode="generative")`` (:func:`~dicodec.codec.generative_decoder.generative_pixels`,
shared with the image path): its decoded latent and the coding scales the entropy decoder used
(:func:`~dicodec.codec.video.clip.decode_frames`; an intra frame's are the image latent codec's, an
inter frame's the inter scheme's), the DiT decoder the zoo pairs with the clip's image codec (the one
``mode="auto"`` loads), and the image path's default realism of 1. Unlike ``mode="auto"`` of an image,
which takes the fast decode above the codec's ``auto_generative_up_to`` quality, it decodes
generatively at every quality: the fast decode is the other curve. Nothing but the entropy decoder's
latent chain connects the frames, which is the point of the baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import torch

from dicodec.bitstream import video as container
from dicodec.codec import registry
from dicodec.codec.generative_decoder import generative_pixels
from dicodec.codec.latent_codec import coding_scales
from dicodec.codec.pipeline import to_uint8
from dicodec.codec.video import clip
from dicodec.errors import DicodecError, UnavailableError


def decode_framewise(
    source: bytes | BinaryIO,
    *,
    device: torch.device,
    realism: float = 1.0,
    decoder: str | None = None,
    max_pixels: int | None = None,
    offline: bool | None = None,
) -> tuple[container.VideoHeader, Iterator[np.ndarray]]:
    """The header and an iterator of uint8 HxWx3 frames, each decoded by the image generative decoder.

    Frames are decoded one at a time as the iterator is consumed (the memory of the fast decode plus
    the DiT's). The models are checked and loaded on the call, before any frame is decoded.

    Args:
        source: a ``.dicv`` stream's bytes or a binary stream.
        device: where the codec and the DiT decoder run.
        realism: the image path's pixel blend (0: the fast decode's frames exactly; 1, the default: the
            full generative decode; :func:`~dicodec.codec.generative_decoder.generative_decode`).
        decoder: another DiT decoder released for the clip's image codec (as ``dicodec.decode``'s
            ``decoder``); default: the zoo's pairing.
        max_pixels, offline: as in :func:`~dicodec.codec.video.clip.decode_latents`.

    Raises:
        UnavailableError: the clip's image codec has no generative decoder.
        DicodecError: ``realism`` outside [0, 1]; damaged data, missing models, as ``decode_latents``.
    """
    if not 0.0 <= realism <= 1.0:
        raise DicodecError(f"realism must be a number from 0 to 1, got {realism!r}")
    header, codec, frames = clip.decode_frames(
        source, device=device, max_pixels=max_pixels, offline=offline, pixels=False
    )
    entry = registry.get_entry(header.model)
    if "generative" not in entry.decode_modes:
        raise UnavailableError(f"model {entry.name} has no generative (DiT) decoder for per-frame decoding")
    dit = registry.load_generative(entry.name, device, offline=offline, decoder=decoder)
    height, width, quality = header.height, header.width, header.quality

    def run() -> Iterator[np.ndarray]:
        for frame in frames:
            x = generative_pixels(codec, dit, frame.y_hat, coding_scales(frame.scale_index), quality, realism)
            x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)[..., :height, :width]
            yield to_uint8(x).cpu().numpy()

    return header, run()
