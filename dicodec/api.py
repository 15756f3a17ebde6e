"""The library API: ``encode``, ``decode``, ``inspect``, ``load_codec``, ``list_models``.

The CLI is a thin layer over exactly these functions and over :class:`dicodec.Codec`
(:mod:`dicodec.session`), which they call, so what a script can do and what the command line can do
never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from dicodec.errors import DicodecError, ImageError, UnavailableError

ImageLike = Any  # numpy uint8 HxW / HxWx3, PIL.Image, or torch float tensor (3,H,W) / (1,3,H,W) in [0,1]
DecodeMode = Literal["auto", "fast", "generative"]
OutputKind = Literal["numpy", "pil", "torch"]
DECODE_MODES: tuple[str, ...] = get_args(DecodeMode)
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)

if TYPE_CHECKING:  # torch is imported on first use so that `import dicodec` and `dicodec --help` stay fast
    import torch


def _device(device: str | torch.device) -> torch.device:
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DicodecError(f"unknown device {device!r} (use auto, cpu or cuda)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UnavailableError("device cuda was asked for, but no CUDA GPU is available")
    return dev


def to_tensor(image: ImageLike) -> torch.Tensor:
    """Any supported image type -> float32 (1, 3, H, W) in [0, 1] on the CPU."""
    import torch

    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
            raise ImageError(f"expected a tensor shaped (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
        t = t.float().expand(1, 3, *t.shape[-2:]).clamp(0, 1)
        return t.contiguous()
    if hasattr(image, "mode") and hasattr(image, "convert"):  # PIL image
        if image.mode not in ("RGB", "L"):
            if "A" in image.mode:
                raise ImageError(f"image mode {image.mode} has an alpha channel; dicodec codes RGB only")
            image = image.convert("RGB")
        image = np.asarray(image)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ImageError(f"expected uint8 pixels, got {array.dtype} (convert 16-bit or float images first)")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if min(array.shape[:2]) < 1:
        raise ImageError("image is empty")
    if not array.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only memory
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_output(x: torch.Tensor, output: OutputKind) -> Any:
    """``x``: the float (1, 3, H, W) image for ``"torch"``, else the (H, W, 3) uint8 one."""
    if output == "torch":
        return x[0]
    array = x.contiguous().numpy()
    if output == "pil":
        from PIL import Image

        return Image.fromarray(array, "RGB")
    return array


def check_quality(quality: Any) -> int:
    """``quality`` as an int, or ``DicodecError`` unless it is an integer from 0 to 100."""
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 100:
        raise DicodecError(f"quality must be an integer from 0 to 100, got {quality!r}")
    return int(quality)


def check_tile_size(tile_size: int | None) -> int:
    """The tile side to use (the default for ``None``), or ``DicodecError`` if the format forbids it."""
    from dicodec.bitstream import container
    from dicodec.codec import pipeline

    tile_size = pipeline.DEFAULT_TILE if tile_size is None else tile_size
    if (
        tile_size % container.TILE_ALIGN
        or not container.MIN_TILE_SIZE <= tile_size <= container.MAX_TILE_SIZE
    ):
        raise DicodecError(f"tile size must be a multiple of 128 from 128 to 4096, got {tile_size}")
    return tile_size


def check_decode_options(mode: Any, output: Any, realism: Any, max_pixels: Any) -> None:
    """``DicodecError`` for a decode option out of its range (checked before any work)."""
    if mode not in DECODE_MODES:
        raise DicodecError(f"unknown decode mode {mode!r} (auto, fast or generative)")
    if output not in OUTPUT_KINDS:
        raise DicodecError(f"unknown output kind {output!r} (numpy, pil or torch)")
    if isinstance(realism, bool) or not isinstance(realism, (int, float)) or not 0.0 <= realism <= 1.0:
        raise DicodecError(f"realism must be a number from 0 to 1, got {realism!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)):
        raise DicodecError(f"max_pixels must be an int or None, got {max_pixels!r}")


def encode(
    image: ImageLike,
    quality: int = 75,
    *,
    model: str | None = None,
    device: str = "auto",
    tile_size: int | None = None,
) -> bytes:
    """Compress an image to a dicodec bitstream.

    Args:
        image: numpy uint8 array (HxW gray, HxWx3 RGB), PIL image, or torch float tensor in [0, 1]
            shaped (3, H, W) or (1, 3, H, W).
        quality: integer 0 (smallest file) to 100 (best quality); bits grow monotonically with it.
        model: registry name of the codec; ``None`` takes the default preset.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        tile_size: tile side in pixels (multiple of 128, 128..4096); default 2048.

    Returns:
        The complete bitstream (header, checksummed chunks). Same input, same bytes, every time, and
        the same bytes as :meth:`dicodec.Codec.encode` and ``encode_many``, which this calls.
    """
    from dicodec.session import Codec

    check_quality(quality)
    check_tile_size(tile_size)
    return Codec.for_call(model, device).encode(image, quality, tile_size=tile_size)


# Largest image decode() agrees to produce unless told otherwise (like Pillow's decompression-bomb check):
# a valid 2^28-pixel header with near-empty tiles costs minutes of CPU and a 3 GB buffer to decode.
DEFAULT_MAX_PIXELS = 2**27  # 134 MP, e.g. 16384 x 8192; the format itself allows 2^28


def decode(
    data: bytes,
    *,
    mode: DecodeMode = "auto",
    device: str = "auto",
    output: OutputKind = "numpy",
    realism: float = 1.0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
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

    Raises:
        dicodec.DicodecError: any problem with the data; never a bare exception or a crash.
    """
    from dicodec.session import Codec

    check_decode_options(mode, output, realism, max_pixels)
    return Codec.for_call(None, device).decode(
        data, mode=mode, output=output, realism=realism, max_pixels=max_pixels
    )


def decode_mode(model: str, mode: str = "auto") -> str:
    """The decode mode ``mode`` stands for with ``model``: ``"auto"`` is ``"generative"`` where the model
    ships a DiT decoder (DiT-IC's point: at low rates it is closer to the source and more natural than
    the synthesis alone, docs/dit.md), else ``"fast"``; other modes are returned as they are."""
    from dicodec.codec import registry

    if mode != "auto":
        return mode
    return "generative" if "generative" in registry.get_entry(model).decode_modes else "fast"


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


def list_models() -> list[dict[str, Any]]:
    """Registered codec presets with their weight files, hashes, bitstream version and decode modes."""
    from dicodec.codec import registry

    return [
        {
            "name": e.name,
            "default": e.default,
            "description": e.description,
            "preset": e.preset,
            "weights": e.weights.name if e.weights else None,
            "sha256": e.sha256,
            "bitstream_version": e.bitstream_version,
            "decode_modes": list(e.decode_modes),
        }
        for e in registry.entries()
    ]


def load_codec(name: str | None = None, *, device: str = "auto", dtype: Any = None) -> Any:
    """Load a codec (a ``torch.nn.Module`` with ``compress``/``decompress``) for repeated use.

    The module is cached per (name, device); ``dtype`` (e.g. ``torch.float16``) casts the synthesis
    transform only: the entropy path stays integer-exact whatever the dtype.
    """
    from dicodec.codec import registry

    codec = registry.load(name, _device(device))
    if dtype is not None:
        codec.synthesis.to(dtype)
    return codec


__all__ = ["encode", "decode", "inspect", "list_models", "load_codec"]
