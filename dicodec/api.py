"""The library API: ``encode``, ``decode``, ``inspect``, ``load_codec``, and the model zoo's
``list_models``, ``fetch_model``, ``add_model``.

The CLI is a thin layer over exactly these functions and over :class:`dicodec.Codec`
(:mod:`dicodec.session`), which ``encode`` and ``decode`` call, so what a script can do and what the
command line can do never drift apart. The arguments' types and checks are :mod:`dicodec.arguments`'
(re-exported here).

Every released model stays usable: a file names its model, and a model that is not installed is
downloaded into the cache on first use (``DICODEC_MODEL_URL``), or, offline (``offline=True`` or
``DICODEC_OFFLINE=1``), refused with a :class:`~dicodec.errors.ModelNotInstalled` that says how to
install it (docs/models.md, *The model zoo*).
"""

from __future__ import annotations

import os
from typing import Any

from dicodec.arguments import (
    DECODE_MODES,
    DEFAULT_MAX_PIXELS,
    OUTPUT_KINDS,
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
    decode_precision,
    to_output,
    to_tensor,
)
from dicodec.errors import DicodecError, UnavailableError


def encode(
    image: ImageLike,
    quality: int = 75,
    *,
    model: str | None = None,
    device: str = "auto",
    tile_size: int | None = None,
    refine_steps: int = 0,
    offline: bool | None = None,
    precision: Precision = "float32",
) -> bytes:
    """Compress an image to a dicodec bitstream.

    Args:
        image: numpy uint8 array (HxW gray, HxWx3 RGB), PIL image, or torch float tensor in [0, 1]
            shaped (3, H, W) or (1, 3, H, W).
        quality: integer 0 (smallest file) to 100 (best quality); bits grow monotonically with it.
        model: registry name of the codec; ``None`` takes the default preset.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        tile_size: tile side in pixels (multiple of 128, 128..4096); default 2048.
        refine_steps: 0..1000 gradient steps that fit the latent to this image before coding it
            (docs/models.md, "Latent refinement"): a smaller file for the same quality, decoded like any
            other; encoding takes about 2 + 3 * ``refine_steps`` network passes instead of one.
        offline: never download a model that is not installed; default ``DICODEC_OFFLINE``.
        precision: the analysis transform's arithmetic: ``"float32"`` (the release's) or
            ``"bfloat16"`` (about twice as fast on CPUs with bfloat16 instructions; another latent of
            the same rate and quality, file sizes within 0.2%; float32 where the CPU lacks them). Any
            decoder reads the file either way.

    Returns:
        The complete bitstream (header, checksummed chunks). Same input, same bytes, every time, and
        the same bytes as :meth:`dicodec.Codec.encode` and ``encode_many``, which this calls.
    """
    from dicodec.session import Codec

    check_quality(quality)
    check_tile_size(tile_size)
    check_refine_steps(refine_steps)
    check_precision(precision)
    codec = Codec.for_call(model, device, offline)
    return codec.encode(image, quality, tile_size=tile_size, refine_steps=refine_steps, precision=precision)


def decode(
    data: bytes,
    *,
    mode: DecodeMode = "auto",
    device: str = "auto",
    output: OutputKind = "numpy",
    realism: float = 1.0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    offline: bool | None = None,
    decoder: str | None = None,
    precision: Precision = "float32",
) -> Any:
    """Decompress a dicodec bitstream.

    Args:
        data: bytes produced by :func:`encode` (or read from a ``.dic`` file).
        mode: ``"fast"`` (synthesis transform only), ``"generative"`` (DiT decoder) or ``"auto"``
            (generative where the file's model ships a DiT decoder, else fast; see :func:`decode_mode`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        output: ``"numpy"`` (uint8 HxWx3), ``"pil"`` (RGB image) or ``"torch"`` (float (3,H,W) in [0,1]).
        realism: generative mode only: blends the pixels from the fast decode (0: the same pixels as
            ``mode="fast"``, fidelity) to the full generative decode (1: texture); about 0.5 has the
            highest PSNR of the blend at low rates (docs/dit.md).
        max_pixels: refuse (``LimitExceeded``) to decode images with more pixels than this, before any
            decoding work; ``None`` allows everything the format allows (2^28).
        offline: never download the file's model when it is not installed (raise
            ``ModelNotInstalled`` instead); default: the ``DICODEC_OFFLINE`` environment variable.
        decoder: generative mode: another DiT decoder released for the file's model (see
            ``list_models``), e.g. ``"dit-ic-s-v1"`` to decode ``hp32-v3`` files as dicodec 0.3 did;
            default: the one the zoo pairs with it.
        precision: the synthesis transform's arithmetic. ``"float32"``: the release's, whose pixels
            are reproducible (golden files); ``"bfloat16"``: bfloat16 on channels-last tensors, about
            twice as fast on CPUs with bfloat16 instructions (AVX512-BF16, AMX), every value within
            3 levels of float32's (docs/models.md). Latents are the same in both.

    Raises:
        dicodec.DicodecError: any problem with the data; never a bare exception or a crash.
        dicodec.ModelNotInstalled: the file's model is not installed and may not be downloaded.

    Pixels are those of :meth:`dicodec.Codec.decode`, which this calls.
    """
    from dicodec.session import Codec

    check_decode_options(mode, output, realism, max_pixels, precision)
    return Codec.for_call(None, device, offline).decode(
        data, mode=mode, output=output, realism=realism, max_pixels=max_pixels, decoder=decoder,
        precision=precision,
    )  # fmt: skip


def inspect(data: bytes) -> dict[str, Any]:
    """Read a bitstream's header without decoding: model, version, size, quality, tiles, bpp."""
    from dicodec.bitstream import container

    header = container.read_header(data)
    size = len(data)
    return {
        "model": header.model,
        "weights_hash": header.weights_hash.hex(),
        "version": f"{header.version[0]}.{header.version[1]}",
        "width": header.width,
        "height": header.height,
        "quality": header.quality,
        "tile_size": header.tile_size,
        "num_tiles": header.num_tiles,
        "num_slices": header.num_slices,
        "size_bytes": size,
        "bpp": 8.0 * size / (header.width * header.height),
    }


DEFAULT_GOP = 16  # an intra frame (random access point) every 16 frames: ~0.5 s at 30 frames/s


def encode_video(
    frames: Any,
    quality: int = 75,
    *,
    gop: int = DEFAULT_GOP,
    fps: Any = None,
    model: str | None = None,
    inter_model: str | None = None,
    device: str = "auto",
    out: Any = None,
    offline: bool | None = None,
    on_frame: Any = None,
    precision: Precision = "float32",
) -> Any:
    """Compress a clip to a ``.dicv`` video bitstream (docs/video.md; spec: docs/bitstream.md part II).

    Args:
        frames: a video file's path (any container FFmpeg reads, see :mod:`dicodec.videofiles`; its
            frame rate is used), or an iterable of uint8 HxWx3 frames (numpy; a (T, H, W, 3) array
            works), consumed one frame at a time.
        quality: 0..100, as for images; every frame is coded at it.
        gop: intra period, 1..65535: frame ``t`` is intra (a random access point) when ``t % gop == 0``;
            ``gop=1`` codes every frame as an image.
        fps: frame rate for frames given as arrays (a number or ``fractions.Fraction``, default 25);
            a file's own rate otherwise.
        model: the image codec; ``None``: the default.
        inter_model: a contextual inter model: its weights file (``video_train``'s output; registered
            for this process) or a registered name (:mod:`dicodec.codec.video.models`); ``None`` (none
            ships yet): inter frames use the training-free temporal-mean scheme where it is cheaper
            than intra.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        out: a binary stream to write to (memory then does not grow with the clip's bytes either).
        offline: never download a model that is not installed.
        on_frame: called after each frame with ``(index, "intra" | "inter", bytes)`` (progress).
        precision: the analysis transform's arithmetic, as in :func:`encode`.

    Returns:
        The bitstream, or with ``out`` the dict of :func:`inspect_video` for what was written.

    Raises:
        dicodec.DicodecError: no frames, frames of different sizes or types, an unreadable file
        (``VideoError``), arguments out of range.
    """
    import io
    from fractions import Fraction

    from dicodec.codec.precision import transform_precision
    from dicodec.codec.video import clip

    check_quality(quality)
    check_precision(precision)
    if inter_model is not None:
        from dicodec.codec.video import models

        inter_model = models.resolve(inter_model)
    if isinstance(gop, bool) or not isinstance(gop, int) or not 1 <= gop <= 65535:
        raise DicodecError(f"gop must be an integer from 1 to 65535, got {gop!r}")
    if isinstance(frames, (str, os.PathLike)):
        from dicodec.videofiles import open_video

        source = open_video(frames)
        rate, frames = source.fps, source.frames()
    else:
        rate = Fraction(25)
    if fps is not None:
        try:
            rate = Fraction(fps).limit_denominator(1001 * 1000)
        except (TypeError, ValueError) as exc:
            raise DicodecError(f"fps must be a positive number, got {fps!r}") from exc
    if not 0 < rate <= 1000:
        raise DicodecError(f"fps must be in (0, 1000], got {rate}")
    stream = io.BytesIO() if out is None else out
    with transform_precision(precision):
        header = clip.encode_clip(
            frames, stream, quality=quality, gop=gop, fps=rate, device=_device(device), model=model,
            inter_model=inter_model, on_frame=on_frame, offline=offline,
        )  # fmt: skip
    if out is None:
        return stream.getvalue()
    return _video_info(header, None)


def decode_video(
    data: Any,
    *,
    mode: DecodeMode = "auto",
    device: str = "auto",
    output: OutputKind = "numpy",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    offline: bool | None = None,
    inter_model: str | None = None,
    precision: Precision = "float32",
) -> Any:
    """Decompress a ``.dicv`` bitstream: an iterator of frames, decoded one at a time as it is consumed.

    Args:
        data: the bytes, a binary stream, or a file's path.
        mode: ``"fast"`` or ``"auto"`` (the same: no video DiT decoder exists yet; ``"generative"``
            raises ``UnavailableError``).
        output: ``"numpy"`` (uint8 HxWx3), ``"pil"`` or ``"torch"`` (float (3, H, W) in [0, 1]).
        max_pixels: refuse larger frames (``LimitExceeded``) before decoding; ``None``: the format's limit.
        inter_model: the weights file of the contextual inter model the clip names, registered for this
            process first (a clip coded with one decodes only where it is registered; its hash is checked).
        precision: the synthesis transform's arithmetic, as in :func:`decode` (latents are the same).

    Raises (when the iterator reaches the problem; the header is checked on the call):
        dicodec.DicodecError: damaged data, a missing model, options out of range.
    """
    import torch

    from dicodec.codec.precision import transform_precision
    from dicodec.codec.video import clip

    check_decode_options(mode, output, 1.0, max_pixels, precision)
    if mode == "generative":
        raise UnavailableError("there is no generative (DiT) decoder for video yet: use mode='fast'")
    if inter_model is not None:
        from dicodec.codec.video import models

        models.resolve(inter_model)
    if isinstance(data, (str, os.PathLike)):
        try:
            data = open(data, "rb")  # noqa: SIM115 - closed when the iterator ends
        except OSError as exc:
            raise DicodecError(f"cannot read {data}: {exc.strerror or exc}") from exc
    try:
        _, frames = clip.decode_latents(data, device=_device(device), max_pixels=max_pixels, offline=offline)
    except BaseException:
        if hasattr(data, "close"):
            data.close()
        raise

    def convert() -> Any:
        try:
            while True:
                with transform_precision(precision):  # around each frame's decode, not across the yield
                    item = next(frames, None)
                if item is None:
                    break
                frame = item[1]
                if output == "torch":
                    yield torch.from_numpy(frame).permute(2, 0, 1).float() / 255.0
                else:
                    yield to_output(torch.from_numpy(frame), output)
        finally:
            if hasattr(data, "close") and not isinstance(data, (bytes, bytearray, memoryview)):
                data.close()

    return convert()


def _video_info(header: Any, size: int | None) -> dict[str, Any]:
    n = header.frame_count
    info = {
        "kind": "video",
        "model": header.model,
        "weights_hash": header.weights_hash.hex(),
        "inter_model": header.inter_model or None,
        "inter_scheme": "contextual" if header.inter_model else "temporal mean (training-free)",
        "version": f"{header.version[0]}.{header.version[1]}",
        "width": header.width,
        "height": header.height,
        "quality": header.quality,
        "fps": float(header.fps),
        "fps_rational": f"{header.fps_num}/{header.fps_den}",
        "frames": n or None,
        "gop": header.gop,
        "duration_s": n / float(header.fps) if n else None,
    }
    if size is not None:
        info["size_bytes"] = size
        info["bpp"] = 8.0 * size / (header.width * header.height * n) if n else None
        info["kbps"] = 8.0 * size * float(header.fps) / n / 1000 if n else None
    return info


def inspect_video(data: bytes) -> dict[str, Any]:
    """A ``.dicv`` header without decoding: models, size, fps, frames, GOP, quality, bpp, bitrate.

    ``bpp`` is bits per pixel per frame, ``kbps`` the bitrate; both need the frame count, which the
    header holds unless the clip was written to a stream that cannot seek (then they are ``None``).
    """
    from dicodec.bitstream import video

    return _video_info(video.read_header(data), len(data))


def list_models() -> list[dict[str, Any]]:
    """Every model: the zoo's released ones (codecs and DiT decoders, retired ones included) and any
    registered by a script, each with where it is installed (``"package"``, ``"cache"``, ``"file"``,
    ``"memory"``) or ``None`` when it is not."""
    from dicodec.codec import model_store, registry, zoo

    rows = []
    for m in zoo.models().values():
        rows.append(
            {
                "name": m.name,
                "kind": m.kind,
                "default": m.default,
                "status": m.status,
                "installed": model_store.where(m),
                "path": str(model_store.locate(m) or "") or None,
                "description": m.description,
                "preset": m.preset,
                "weights": m.file,
                "sha256": m.sha256,
                "size": m.size,
                "bitstream_version": m.bitstream_version if m.kind == "codec" else None,
                "decode_modes": list(m.decode_modes) if m.kind == "codec" else [],
                "paired_with": m.generative or m.codec or None,
                "license": m.license,
                "released": m.released,
                "retired": m.retired or None,
                "commit": m.commit,
                "url": model_store.download_url(m),
            }
        )
    for e in registry.entries():
        if not e.from_zoo:
            rows.append(
                {
                    "name": e.name,
                    "kind": "codec",
                    "default": e.default,
                    "status": "registered",
                    "installed": "file" if e.weights else "memory",
                    "path": str(e.weights) if e.weights else None,
                    "description": e.description,
                    "preset": e.preset,
                    "weights": e.weights.name if e.weights else None,
                    "sha256": e.sha256,
                    "bitstream_version": e.bitstream_version,
                    "decode_modes": list(e.decode_modes),
                }
            )
    return rows


def fetch_model(
    name: str, *, url: str | None = None, with_decoder: bool = True, progress: bool = True
) -> list[dict[str, Any]]:
    """Download a released model into the cache (no-op for one already installed).

    Args:
        name: a zoo name (``dicodec.list_models()``), codec or DiT decoder.
        url: base URL of the release assets; default ``DICODEC_MODEL_URL``, else the zoo's.
        with_decoder: for a codec, its paired DiT decoder too (what ``mode="auto"`` decodes with).
        progress: a progress bar on stderr.

    Returns:
        One ``{"name", "path", "fetched"}`` record per file, ``fetched`` false when it was installed.

    Raises:
        UnknownModel: ``name`` is not in the zoo.
        ModelNotInstalled: offline, or no download location is set.
        DownloadError, WeightsMismatch: the download failed; nothing half-written is installed.
    """
    from dicodec.codec import model_store, zoo
    from dicodec.errors import UnknownModel

    models = zoo.models()
    if name not in models:
        raise UnknownModel(f"{name!r} is not a released model (see 'dicodec models')")
    wanted = [models[name]]
    if with_decoder and models[name].generative:
        wanted.append(models[models[name].generative])
    out = []
    for m in wanted:
        path = model_store.locate(m)
        fetched = path is None
        if fetched:
            path = model_store.fetch(m, url=url, progress=progress)
        out.append({"name": m.name, "path": str(path), "fetched": fetched})
    return out


def add_model(path: str) -> dict[str, Any]:
    """Install a local copy of a released weights file (air-gapped machines), found by its sha256.

    Returns:
        ``{"name", "path", "added"}``: the zoo name, where it is installed, and whether it was copied
        now (false: it was installed already).

    Raises:
        ModelNotInstalled: the file's hash is not in the zoo (another or a damaged file).
    """
    from dicodec.codec import model_store

    model, installed, added = model_store.add(path)
    return {"name": model.name, "path": str(installed), "added": added}


def load_codec(
    name: str | None = None, *, device: str = "auto", dtype: Any = None, offline: bool | None = None
) -> Any:
    """Load a codec (a ``torch.nn.Module`` with ``compress``/``decompress``) for repeated use.

    The module is cached per (name, device) and shared with :func:`decode`. ``dtype`` (e.g.
    ``torch.float16``) casts the synthesis transform only, of a copy: the entropy path stays
    integer-exact whatever the dtype, and the cached module ``decode`` uses stays float32 (casting it
    made every later fast decode in the process run in fp16 and miss the golden files' bytes).
    """
    from dicodec.codec import registry

    codec = registry.load(name, _device(device), offline=offline)
    if dtype is not None:
        import copy

        codec = copy.deepcopy(codec)
        codec.synthesis.to(dtype)
    return codec


__all__ = [
    "encode",
    "decode",
    "encode_video",
    "decode_video",
    "inspect_video",
    "decode_mode",
    "decode_precision",
    "inspect",
    "list_models",
    "fetch_model",
    "add_model",
    "load_codec",
    "DECODE_MODES",
    "OUTPUT_KINDS",
    "DEFAULT_MAX_PIXELS",
    "DecodeMode",
    "ImageLike",
    "OutputKind",
    "check_decode_options",
    "check_quality",
    "check_refine_steps",
    "check_tile_size",
    "to_output",
    "to_tensor",
]
