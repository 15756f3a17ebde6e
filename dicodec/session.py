"""A codec kept loaded across calls (:class:`Codec`), and the per-item :class:`Result` of its batches.

What a single ``dicodec encode`` waits for is mostly not coding: starting Python and torch, loading
and checking weights, reading the image file. A pipeline that codes many images pays the first two
once by keeping one :class:`Codec`; its ``encode_many`` / ``decode_many`` also read the next inputs
in threads while the current one is coded (:mod:`dicodec.readahead`), and report a bad input as
one failed :class:`Result` instead of ending the batch.

:func:`dicodec.encode` and :func:`dicodec.decode` are one-call uses of this class, so every path
writes the same bytes and decodes the same pixels, and takes the same model-zoo options: ``offline``
(never download a model that is not installed) and, to decode, ``decoder`` (another DiT decoder
released for the file's model).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicodec.arguments import (
    DEFAULT_MAX_PIXELS,
    DecodeMode,
    ImageLike,
    OutputKind,
    Precision,
    _device,
    check_decode_options,
    check_precision,
    check_quality,
    check_refine_steps,
    check_tile_size,
    decode_mode,
    to_output,
    to_tensor,
)
from dicodec.errors import DicodecError, ImageError, LimitExceeded, UnavailableError

if TYPE_CHECKING:  # torch is imported on first use, so that `import dicodec` stays fast
    import torch

# Failures of one item in a batch: the codec's own errors, and the OS errors a ``load`` function
# (reading a file) may raise. Anything else is a bug and ends the batch.
ITEM_ERRORS: tuple[type[Exception], ...] = (DicodecError, OSError)


@dataclass(frozen=True)
class Result:
    """The outcome of one item of :meth:`Codec.encode_many` or :meth:`Codec.decode_many`.

    Attributes:
        item: the element of the input iterable (an image, bytes, or whatever ``load`` was given).
        index: its position in the input, from 0.
        value: the bitstream (encode) or the decoded image (decode); ``None`` on failure.
        error: the :class:`~dicodec.DicodecError` (or, from ``load``, ``OSError``) that stopped it.
        seconds: time spent coding it, without loading or waiting for the load.
    """

    item: Any
    index: int
    value: Any = None
    error: Exception | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Codec:
    """A codec on one device, loaded once and reused for any number of images.

    >>> codec = dicodec.Codec(device="cuda")           # checks the model name and the device now
    >>> data = codec.encode(image, quality=60)          # the same bytes as dicodec.encode
    >>> for r in codec.encode_many(paths, load=dicodec.read_image):  # path -> uint8 HxWx3, in threads
    ...     if r.ok: save(r.item, r.value)
    ...     else: print(r.item, r.error)

    Weights load on first use (or with :meth:`load`) and stay cached for the process, shared by every
    ``Codec`` on the same device. Decoding uses the model each bitstream names, so one ``Codec``
    decodes files of any registered model, retired ones of the model zoo included (installed into the
    cache on first use unless ``offline``); ``model`` is the one :meth:`encode` writes with.
    Calls are meant to come from one thread at a time; ``encode_many`` / ``decode_many`` use their
    own threads for ``load`` only.

    Args:
        model: registry name of the encoding model; ``None`` takes the default preset.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        offline: never download a model that is not installed (``ModelNotInstalled`` instead, for
            that call or item); default: the ``DICODEC_OFFLINE`` environment variable.

    Raises:
        UnknownModel: ``model`` is not registered.
        UnavailableError: ``device="cuda"`` without a CUDA GPU.
    """

    def __init__(
        self, model: str | None = None, *, device: str = "auto", offline: bool | None = None
    ) -> None:
        from dicodec.codec import registry

        self._model = model
        self._device_arg = device
        self._device: torch.device | None = None
        self._offline = offline
        if model is not None:
            registry.get_entry(model)
        self._device = _device(device)

    @classmethod
    def for_call(cls, model: str | None, device: str, offline: bool | None = None) -> Codec:
        """The codec of one :func:`dicodec.encode` / :func:`dicodec.decode` call: model and device are
        checked when used, so those functions report problems in the order they always have."""
        codec = cls.__new__(cls)
        codec._model, codec._device_arg, codec._device = model, device, None
        codec._offline = offline
        return codec

    @property
    def device(self) -> torch.device:
        """The torch device everything runs on (``"auto"`` resolved)."""
        if self._device is None:
            self._device = _device(self._device_arg)
        return self._device

    @property
    def model(self) -> str:
        """Registry name of the model :meth:`encode` writes with."""
        from dicodec.codec import registry

        return registry.get_entry(self._model).name

    @property
    def offline(self) -> bool | None:
        """Whether a model that is not installed is refused rather than downloaded (``None``: as
        ``DICODEC_OFFLINE`` says)."""
        return self._offline

    def __repr__(self) -> str:
        offline = "" if self._offline is None else f", offline={self._offline!r}"
        return f"Codec(model={self._model!r}, device={str(self._device or self._device_arg)!r}{offline})"

    def load(self, *, generative: bool | None = None, decoder: str | None = None) -> Codec:
        """Load the encoding model's weights now rather than at the first call; returns ``self``.

        Installs them first if need be (unless ``offline``), so a batch that cannot get its model
        fails here, once, rather than on every item.

        Args:
            generative: also load its generative decoder: ``None`` when the model ships one (what
                ``mode="auto"`` decodes with), ``True`` always (an error if it has none).
            decoder: that generative decoder: another one released for the model (as in
                :meth:`decode`); implies ``generative``.
        """
        from dicodec.codec import registry

        entry = registry.get_entry(self._model)
        registry.load(entry.name, self.device, offline=self._offline)
        if decoder is not None or generative or (generative is None and "generative" in entry.decode_modes):
            registry.load_generative(entry.name, self.device, offline=self._offline, decoder=decoder)
        return self

    # ------------------------------------------------------------------ one image
    def encode(
        self,
        image: ImageLike,
        quality: int = 75,
        *,
        tile_size: int | None = None,
        refine_steps: int = 0,
        precision: Precision = "float32",
    ) -> bytes:
        """Compress one image; the arguments and the bytes are those of :func:`dicodec.encode`."""
        from dicodec.bitstream import container
        from dicodec.codec import pipeline, registry
        from dicodec.codec.precision import transform_precision

        check_precision(precision)
        quality = check_quality(quality)
        tile_size = check_tile_size(tile_size)
        refine_steps = check_refine_steps(refine_steps)
        x = to_tensor(image)
        h, w = x.shape[-2:]
        if max(h, w) > container.MAX_DIM or h * w > container.MAX_PIXELS:
            raise ImageError(
                f"image {w}x{h} exceeds the format's limits ({container.MAX_DIM} px a side, "
                f"{container.MAX_PIXELS} pixels)"
            )
        dev = self.device
        entry = registry.get_entry(self._model)
        codec = registry.load(entry.name, dev, offline=self._offline)
        with transform_precision(precision):
            return pipeline.encode_image(codec, entry, x.to(dev), quality, tile_size, refine_steps)

    def decode(
        self,
        data: bytes,
        *,
        mode: DecodeMode = "auto",
        output: OutputKind = "numpy",
        realism: float = 1.0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        decoder: str | None = None,
        precision: Precision = "float32",
    ) -> Any:
        """Decompress one bitstream; the arguments and the pixels are those of :func:`dicodec.decode`.

        The file's weights hash is checked against its model's before any model is loaded, let alone
        downloaded (:func:`dicodec.codec.pipeline.check_weights_hash`).
        """
        from dicodec.bitstream import container
        from dicodec.codec import pipeline, registry
        from dicodec.codec.precision import transform_precision

        check_decode_options(mode, output, realism, max_pixels, precision)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DicodecError(f"decode takes bytes, got {type(data).__name__}")
        header, tiles = container.read(data)
        if max_pixels is not None and header.width * header.height > max_pixels:
            raise LimitExceeded(
                f"image {header.width}x{header.height} has {header.width * header.height} pixels, more "
                f"than max_pixels={max_pixels}; pass max_pixels=None (CLI: --max-pixels 0) to decode it "
                "anyway"
            )
        entry = registry.get_entry(header.model)
        pipeline.check_weights_hash(header, entry)  # before a model is loaded, let alone downloaded
        mode = decode_mode(entry.name, mode, header.quality)
        if mode not in entry.decode_modes:
            raise UnavailableError(
                f"decode mode {mode!r} is not available for model {entry.name} "
                f"(available: {', '.join(entry.decode_modes)}); no generative DiT decoder weights are "
                "shipped for it yet: use --mode fast"
            )
        if decoder is not None and mode != "generative":
            raise DicodecError(f"decoder={decoder!r} is for the generative mode, not {mode!r}")
        dev = self.device
        codec = registry.load(entry.name, dev, offline=self._offline)
        pipeline.check_model(header, entry, codec)
        decode_tile = None
        if mode == "generative":
            from dicodec.codec.generative_decoder import generative_decode

            dit = registry.load_generative(entry.name, dev, offline=self._offline, decoder=decoder)

            def decode_tile(strings, shape, coder):
                q, r = header.quality, float(realism)
                return generative_decode(codec, dit, strings, shape, q, r, coder)

        with warnings.catch_warnings(), transform_precision(precision):
            warnings.simplefilter("ignore")
            x = pipeline.decode_image(codec, header, tiles, decode_tile, as_uint8=output != "torch")
        return to_output(x, output)

    # ------------------------------------------------------------------ batches
    def encode_many(
        self,
        images: Iterable[Any],
        quality: int = 75,
        *,
        tile_size: int | None = None,
        refine_steps: int = 0,
        precision: Precision = "float32",
        load: Callable[[Any], ImageLike] | None = None,
        workers: int = 2,
        prefetch: int | None = None,
    ) -> Iterator[Result]:
        """Encode images one after another; yield one :class:`Result` per input, in input order.

        A failure of one input (unreadable, too large, ...) is that result's ``error`` and the batch
        goes on; options are checked before anything runs and raise as in :meth:`encode`.

        Args:
            images: the images, or anything ``load`` turns into one (file names, say).
            quality, tile_size, refine_steps, precision: as in :meth:`encode`, for every image.
            load: called on each element of ``images`` in ``workers`` threads, ``prefetch`` elements
                ahead of the codec (default ``2 * workers``), e.g. reading and decoding a file while
                the previous image is coded. Its ``DicodecError`` or ``OSError`` fails that item only.
            workers: threads for ``load``; 0 runs it on the calling thread.
        """
        quality = check_quality(quality)
        check_tile_size(tile_size)
        check_refine_steps(refine_steps)
        check_precision(precision)

        def encode_one(image: ImageLike) -> bytes:
            options = {"tile_size": tile_size, "refine_steps": refine_steps, "precision": precision}
            return self.encode(image, quality, **options)  # type: ignore[arg-type]

        return self._many(images, load, workers, prefetch, encode_one)

    def decode_many(
        self,
        data: Iterable[Any],
        *,
        mode: DecodeMode = "auto",
        output: OutputKind = "numpy",
        realism: float = 1.0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        decoder: str | None = None,
        precision: Precision = "float32",
        load: Callable[[Any], bytes] | None = None,
        workers: int = 2,
        prefetch: int | None = None,
    ) -> Iterator[Result]:
        """Decode bitstreams one after another; yield one :class:`Result` per input, in input order.

        Args:
            data: the bitstreams, or anything ``load`` turns into one (``Path.read_bytes`` of file names).
            mode, output, realism, max_pixels, decoder, precision: as in :meth:`decode`, for every
                bitstream (a file whose model is not installed and may not be downloaded, a weights hash
                that differs or a ``decoder`` that is not one of the file's model fails that item only).
            load, workers, prefetch: as in :meth:`encode_many`.
        """
        check_decode_options(mode, output, realism, max_pixels, precision)
        if decoder is not None and mode == "fast":  # every item would fail: say it once
            raise DicodecError(f"decoder={decoder!r} is for the generative mode, not 'fast'")
        options = {"mode": mode, "output": output, "realism": realism, "max_pixels": max_pixels}
        options |= {"decoder": decoder, "precision": precision}
        return self._many(data, load, workers, prefetch, lambda blob: self.decode(blob, **options))

    def _many(
        self,
        items: Iterable[Any],
        load: Callable[[Any], Any] | None,
        workers: int,
        prefetch: int | None,
        code: Callable[[Any], Any],
    ) -> Iterator[Result]:
        from dicodec.codec import heap
        from dicodec.readahead import read_ahead  # threads: imported when a batch runs

        loaded = read_ahead(items, load, workers=workers, depth=prefetch, catch=ITEM_ERRORS)
        # One retained heap for the whole batch (until the iterator is exhausted or closed): each image
        # reuses the pages the previous one freed, where a heap trimmed after every image page-faults
        # its activations in again (~1 s of system time per 1080p image on 2 cores, codec/heap.py).
        with heap.retained_heap(enabled=self.device.type == "cpu"):
            for index, item, value, error in loaded:
                if error is not None:
                    yield Result(item, index, error=error)  # type: ignore[arg-type]
                    continue
                start = time.perf_counter()
                try:
                    out = code(value)
                except DicodecError as exc:
                    yield Result(item, index, error=exc, seconds=time.perf_counter() - start)
                else:
                    yield Result(item, index, value=out, seconds=time.perf_counter() - start)


__all__ = ["Codec", "Result", "ITEM_ERRORS"]
