"""Whole clips <-> ``.dicv`` streams: GOPs, intra and inter frames, streaming in both directions.

Every frame is padded to a multiple of 32 px by edge replication and coded as one latent (no tiles:
frames are at most 8192 px a side, docs/bitstream.md part II). Frame ``t`` is

* intra when ``t % gop == 0``: the image codec's latent codec, exactly as an image tile is coded, so
  decoding can start there;
* otherwise inter, coded against the previous decoded latent by the clip's inter scheme
  (:mod:`dicodec.codec.video.contextual`): the contextual model the header names, or without one the
  training-free temporal-mean scheme. With ``inter="cheaper"`` (the default) the encoder codes the frame
  both ways and keeps the smaller; both give the same quantization step, so the choice trades only
  bits (measured in docs/video.md).

The latent chain (``y_hat`` of each frame, the next frame's context) is integer-exact, so a clip coded
on a GPU decodes on a CPU to the same latents; only the synthesis to pixels is float.

Neither direction holds more than the current frame, its latent and its context: frames are read from
an iterator and written to the stream one at a time, and decoding yields each frame as it is done.
:func:`decode_frames` also yields the coding scale of every element, which the entropy decoder computes
anyway, for decoders that read it (the per-frame generative decode, :mod:`~dicodec.codec.video.framewise`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from dicodec.bitstream import video as container
from dicodec.codec import grouped_ans, registry
from dicodec.codec.model import ImageCodec, quality_to_level
from dicodec.codec.pipeline import check_model, check_weights_hash, pad_image, to_uint8
from dicodec.codec.transforms import DOWNSCALE
from dicodec.codec.video import models
from dicodec.codec.video.contextual import ContextualLatentCodec, TemporalMeanInter, clamp_latent
from dicodec.errors import Corrupt, DicodecError, ImageError, LimitExceeded, UnavailableError

INTER_CHOICES = ("cheaper", "always")
CODER = grouped_ans  # video codes every string with the grouped ANS coder (bitstream section 8.2)


def frame_tensor(frame: object, size: tuple[int, int] | None, index: int) -> Tensor:
    """One uint8 HxWx3 frame as float (1, 3, H, W) in [0, 1]; every frame must have the first one's size.

    Raises:
        ImageError: not uint8 HxWx3 (or HxW gray), or another size than frame 0.
    """
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        raise ImageError(f"frame {index}: expected uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ImageError(f"frame {index}: expected an HxWx3 frame, got shape {array.shape}")
    if size is not None and array.shape[:2] != size:
        raise ImageError(f"frame {index} is {array.shape[1]}x{array.shape[0]}, frame 0 {size[1]}x{size[0]}")
    t = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    return t.float() / 255.0


class _Scheme:
    """The image codec, its gains at one quality, and the inter scheme of a clip, on one device."""

    def __init__(self, codec: ImageCodec, quality: int, inter: ContextualLatentCodec | None, device):
        if codec.detail_codec is not None:
            raise UnavailableError("video coding does not support image codecs with a detail layer")
        self.codec, self.device = codec, device
        level = quality_to_level(quality, codec.config.levels).to(device)
        self.gain, self.inverse_gain = codec.gains(level)
        self.inter = inter if inter is not None else TemporalMeanInter(codec.latent_codec)

    @torch.no_grad()
    def encode(
        self, x: Tensor, ctx: Tensor | None, choice: str, scale_shifts: bool = True
    ) -> tuple[str, list[bytes], Tensor, tuple[int, ...]]:
        """``(kind, strings, decoded latent, scale shifts)`` of one frame (shifts: inter frames only;
        ``scale_shifts=False`` codes every slice with shift 0, for measuring what they save)."""
        y = self.codec.analyze(pad_image(x.to(self.device), DOWNSCALE)) * self.gain
        need_intra = ctx is None or choice == "cheaper"
        intra = self.codec.latent_codec.compress(y, CODER, return_latent=True) if need_intra else None
        if intra is not None:
            intra = (intra[0], clamp_latent(intra[1]))
        if ctx is None:
            return ("intra", *intra, ())  # type: ignore[misc]
        if scale_shifts:
            strings, shifts, y_hat = self.inter.compress_shifted(y, ctx, CODER)
        else:
            (strings, y_hat), shifts = self.inter.compress(y, ctx, CODER), ()
        if intra is not None and sum(map(len, intra[0])) < sum(map(len, strings)):
            return ("intra", *intra, ())  # type: ignore[misc]
        return "inter", strings, y_hat, shifts

    @torch.no_grad()
    def decode(self, frame: container.Frame, ctx: Tensor | None, latent_shape: tuple[int, int]) -> Tensor:
        return self.decode_with_scale_index(frame, ctx, latent_shape, False)[0]

    @torch.no_grad()
    def decode_with_scale_index(
        self, frame: container.Frame, ctx: Tensor | None, latent_shape: tuple[int, int], scales: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """The frame's decoded latent and, with ``scales``, the scale-table index of every element
        (the intra latent codec's or the inter scheme's, the ones the entropy decoder used)."""
        strings = list(frame.strings)
        try:
            if frame.kind == "intra":
                out = self.codec.latent_codec.decompress(
                    strings, latent_shape, self.device, with_scale_index=scales, coder=CODER
                )
                y, index = out if scales else (out, None)
                return clamp_latent(y), index  # type: ignore[arg-type]
            assert ctx is not None  # the reader guarantees frame 0 is intra
            out = self.inter.decompress(
                strings, ctx, CODER, with_scale_index=scales, scale_shift=frame.scale_shift
            )
            return out if scales else (out, None)  # type: ignore[return-value]
        except ValueError as exc:
            raise Corrupt(f"frame {frame.index}: entropy-coded data is corrupt ({exc})") from exc

    @torch.no_grad()
    def pixels(self, y_hat: Tensor, height: int, width: int) -> np.ndarray:
        x = self.codec.synthesize(y_hat * self.inverse_gain)
        x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)[..., :height, :width]
        return to_uint8(x).cpu().numpy()


@torch.no_grad()
def simulate_group_coding(
    codec: ImageCodec, y: Tensor, inter: ContextualLatentCodec | None = None
) -> tuple[Tensor, Tensor]:
    """The decoded latents of a batch of groups of pictures, and their coding scale indexes, with no coder.

    ``y`` (B, T, M, h, w) holds gain-scaled analysis latents; frame 0 of each group is coded intra and
    frames 1.. inter against the previous decoded latent with ``inter`` (default: the training-free
    temporal mean), as :func:`encode_clip` does with ``inter="always"``. The integer arithmetic is the
    encoder's own (``simulate_coding`` of the latent codec and of the inter scheme), so the latents
    are the ones :func:`decode_latents` gives for such a clip (tested); only the float hyper-analysis
    may differ by rounding in a batch. Returns ``y_hat`` (float32) and the scale-table index of every
    element (``coding_scales`` turns it into scales), both (B, T, M, h, w), before the scale shifts an
    encoder picks per inter frame with its range coder (a decoded file's inter frames use narrower
    indexes, :func:`~dicodec.codec.video.contextual.shift_scale_index`). For training on what the
    video decoder sees (``dicodec.codec.training.video_refine_train``).
    """
    scheme = inter if inter is not None else TemporalMeanInter(codec.latent_codec)
    y_hat, index = codec.latent_codec.simulate_coding(y[:, 0].contiguous())
    latents, indexes = [clamp_latent(y_hat)], [index]
    for t in range(1, y.shape[1]):
        y_hat, index = scheme.simulate_coding(y[:, t].contiguous(), latents[-1])
        latents.append(y_hat)
        indexes.append(index)
    return torch.stack(latents, 1), torch.stack(indexes, 1)


def encode_clip(
    frames: Iterable[object],
    out: BinaryIO,
    *,
    quality: int,
    gop: int,
    fps: Fraction,
    device: torch.device,
    model: str | None = None,
    inter_model: str | None = None,
    inter: str = "cheaper",
    on_frame: Callable[[int, str, int], None] | None = None,
    offline: bool | None = None,
    scale_shifts: bool = True,
) -> container.VideoHeader:
    """Code ``frames`` (uint8 HxWx3, any iterable, consumed lazily) into ``out``; returns the header.

    Args:
        quality, gop, fps: as the header stores them (``fps`` a positive rational).
        model: the image codec (registry name); default: the zoo's default.
        inter_model: a registered contextual model (:mod:`dicodec.codec.video.models`); default none:
            the training-free temporal-mean scheme.
        inter: ``"cheaper"`` (each inter frame coded both ways, the smaller kept) or ``"always"``.
        on_frame: called after each frame with (index, "intra" | "inter", bytes of the frame).
        offline: never download the image codec when it is not installed.
        scale_shifts: choose each inter frame's per-slice scale shifts (format 2.0); ``False`` writes
            them all 0, the 1.0 coding (``scripts/video_inter_gain.py`` measures the difference).

    Raises:
        ImageError: a frame of the wrong type or size; DicodecError: no frames, or a value outside
        the format (fps, size).
    """
    if inter not in INTER_CHOICES:
        raise ValueError(f"inter must be one of {INTER_CHOICES}")
    entry = registry.get_entry(model)
    codec = registry.load(entry.name, device, offline=offline)
    context_model, inter_name, inter_hash = None, "", b""
    if inter_model is not None:
        ie = models.lookup(inter_model)
        if ie.codec != entry.name:
            raise DicodecError(f"inter model {inter_model} was trained for {ie.codec}, not {entry.name}")
        context_model, inter_name, inter_hash = models.get(inter_model, device), ie.name, ie.weights_hash
    scheme = _Scheme(codec, quality, context_model, device)
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise DicodecError("the clip has no frames")
    x = frame_tensor(first, None, 0)
    height, width = x.shape[-2:]
    if max(height, width) > container.MAX_DIM or height * width > container.MAX_PIXELS:
        raise ImageError(f"frames of {width}x{height} exceed the limit of {container.MAX_DIM} px a side")
    fps = Fraction(fps)
    header = container.VideoHeader(
        model=entry.name, weights_hash=entry.weights_hash, width=int(width), height=int(height),
        quality=int(quality), num_slices=codec.config.num_slices, fps_num=fps.numerator,
        fps_den=fps.denominator, gop=int(gop), inter_model=inter_name, inter_hash=inter_hash,
    )  # fmt: skip
    writer = container.VideoWriter(out, header)
    ctx: Tensor | None = None
    index = 0
    while x is not None:
        kind, strings, y_hat, shifts = scheme.encode(
            x, None if header.is_key(index) else ctx, inter, scale_shifts
        )
        writer.write(container.Frame(index, kind, tuple(strings), shifts))
        if on_frame is not None:
            on_frame(index, kind, sum(map(len, strings)))
        ctx, index = y_hat, index + 1
        if index >= container.MAX_FRAMES:
            raise LimitExceeded(f"a clip holds at most {container.MAX_FRAMES} frames")
        nxt = next(iterator, None)
        x = None if nxt is None else frame_tensor(nxt, (int(height), int(width)), index)
    return writer.close()


def _open(
    source: bytes | BinaryIO, device: torch.device, max_pixels: int | None, offline: bool | None
) -> tuple[container.VideoHeader, _Scheme, Iterator[container.Frame], tuple[int, int]]:
    """Read the header, check its models and load them: what every decode of a clip starts with."""
    header, frames = container.iter_chunks(source)
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise LimitExceeded(
            f"frames of {header.width}x{header.height} have more than max_pixels={max_pixels} pixels"
        )
    entry = registry.get_entry(header.model)
    check_weights_hash(header, entry)  # type: ignore[arg-type]  # before any weights are loaded
    inter = models.get(header.inter_model, device, header.inter_hash) if header.inter_model else None
    codec = registry.load(entry.name, device, offline=offline)
    check_model(header, entry, codec)  # type: ignore[arg-type]
    scheme = _Scheme(codec, header.quality, inter, device)
    latent_shape = (-(-header.height // DOWNSCALE), -(-header.width // DOWNSCALE))
    return header, scheme, frames, latent_shape


def decode_latents(
    source: bytes | BinaryIO,
    *,
    device: torch.device,
    max_pixels: int | None = None,
    offline: bool | None = None,
) -> tuple[container.VideoHeader, Iterator[tuple[Tensor, np.ndarray]]]:
    """The header and an iterator of ``(latent y_hat, uint8 HxWx3 frame)``, one frame at a time.

    The model and weights hash named in the header are checked before the first frame is decoded.

    Raises:
        dicodec.BitstreamError: damaged data (when the damaged chunk is reached);
        ModelError: a model the header names is missing or its weights differ.
    """
    header, scheme, frames, latent_shape = _open(source, device, max_pixels, offline)

    def run() -> Iterator[tuple[Tensor, np.ndarray]]:
        ctx: Tensor | None = None
        for frame in frames:
            ctx = scheme.decode(frame, ctx, latent_shape)
            yield ctx, scheme.pixels(ctx, header.height, header.width)

    return header, run()


@dataclass(frozen=True)
class DecodedFrame:
    """One frame of a clip as :func:`decode_frames` yields it.

    Attributes:
        index: the frame's position in the clip.
        kind: ``"intra"`` or ``"inter"`` (how it was coded).
        y_hat: the decoded latent (1, M, h, w), gain-scaled: bit for bit :func:`decode_latents`' latent.
        scale_index: the scale-table index (1, M, h, w, int32) the entropy decoder decoded every element
            with: the image latent codec's for intra frames, the inter scheme's for inter frames.
            :func:`~dicodec.codec.latent_codec.coding_scales` turns it into gain-scaled scales, the
            convention of :func:`~dicodec.codec.generative_decoder.decode_with_scales` and of
            ``simulate_coding``.
        pixels: the fast decode (uint8 HxWx3, :func:`decode_latents`' frame), or None when not asked for.
    """

    index: int
    kind: str
    y_hat: Tensor
    scale_index: Tensor
    pixels: np.ndarray | None


def decode_frames(
    source: bytes | BinaryIO,
    *,
    device: torch.device,
    max_pixels: int | None = None,
    offline: bool | None = None,
    pixels: bool = True,
) -> tuple[container.VideoHeader, ImageCodec, Iterator[DecodedFrame]]:
    """:func:`decode_latents` with every frame's coding scales, for decoders that need them.

    A generative decoder of a frame reads how sure the entropy model was of each element (DiT-IC's
    variance guidance); the entropy decoder computed exactly that to decode the frame, so keeping the
    indexes costs nothing and changes no latent (the same integer path, the same checks). Returns the
    header, the image codec (for the synthesis and the gains of ``header.quality``) and the frames,
    decoded one at a time as the iterator is consumed; ``pixels=False`` skips the fast synthesis.

    Raises:
        as :func:`decode_latents`.
    """
    header, scheme, frames, latent_shape = _open(source, device, max_pixels, offline)

    def run() -> Iterator[DecodedFrame]:
        ctx: Tensor | None = None
        for frame in frames:
            ctx, index = scheme.decode_with_scale_index(frame, ctx, latent_shape)
            fast = scheme.pixels(ctx, header.height, header.width) if pixels else None
            yield DecodedFrame(frame.index, frame.kind, ctx, index, fast)  # type: ignore[arg-type]

    return header, scheme.codec, run()


def latent_digest(latents: Iterable[Tensor]) -> str:
    """SHA-256 over the decoded latents' float32 bytes: equal on every device for the same file."""
    h = hashlib.sha256()
    for y in latents:
        h.update(y.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
