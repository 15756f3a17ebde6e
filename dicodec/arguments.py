"""What the public API's arguments are and how they are checked and converted: image types in, output
kinds out, quality, tile size, decode options, device.

Shared by the one-call functions (:mod:`dicodec.api`) and the codec kept loaded across calls
(:class:`dicodec.Codec`, :mod:`dicodec.session`), which the functions call, so both refuse the same
arguments with the same messages. It sits below both modules so that neither imports the other's
caller (no import cycle); :mod:`dicodec.api` re-exports every name here.
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
# the synthesis transform's arithmetic when decoding (dicodec.codec.precision.PRECISIONS, tested equal)
Precision = Literal["float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

# Largest image decode() agrees to produce unless told otherwise (like Pillow's decompression-bomb check):
# a valid 2^28-pixel header with near-empty tiles costs minutes of CPU and a 3 GB buffer to decode.
DEFAULT_MAX_PIXELS = 2**27  # 134 MP, e.g. 16384 x 8192; the format itself allows 2^28

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


MAX_REFINE_STEPS = 1000


def check_refine_steps(steps: Any) -> int:
    """``refine_steps`` as an int, or ``DicodecError`` unless it is an integer from 0 to 1000."""
    integer = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
    if not integer or not 0 <= steps <= MAX_REFINE_STEPS:
        raise DicodecError(f"refine_steps must be an integer from 0 to {MAX_REFINE_STEPS}, got {steps!r}")
    return int(steps)


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


def check_decode_options(
    mode: Any, output: Any, realism: Any, max_pixels: Any, precision: Any = "float32"
) -> None:
    """``DicodecError`` for a decode option out of its range (checked before any work)."""
    if mode not in DECODE_MODES:
        raise DicodecError(f"unknown decode mode {mode!r} (auto, fast or generative)")
    if output not in OUTPUT_KINDS:
        raise DicodecError(f"unknown output kind {output!r} (numpy, pil or torch)")
    if isinstance(realism, bool) or not isinstance(realism, (int, float)) or not 0.0 <= realism <= 1.0:
        raise DicodecError(f"realism must be a number from 0 to 1, got {realism!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)):
        raise DicodecError(f"max_pixels must be an int or None, got {max_pixels!r}")
    check_precision(precision)


def check_precision(precision: Any) -> str:
    """``DicodecError`` unless ``precision`` is one of :data:`PRECISIONS` (the transforms' arithmetic)."""
    if precision not in PRECISIONS:
        raise DicodecError(f"unknown precision {precision!r} (float32 or bfloat16)")
    return precision


def decode_mode(model: str, mode: str = "auto", quality: int | None = None) -> str:
    """The decode mode ``mode`` stands for with ``model`` for a file of ``quality``.

    ``"auto"`` is ``"generative"`` where the model ships a DiT decoder (DiT-IC's point: at low rates it
    is closer to the source by LPIPS and more natural than the synthesis alone, docs/dit.md) and the
    file's quality is at most the model's ``auto_generative_up_to`` (above it the fast decode measured
    better, docs/models.md), else ``"fast"``; other modes are returned as they are.
    """
    from dicodec.codec import registry

    if mode != "auto":
        return mode
    entry = registry.get_entry(model)
    if "generative" not in entry.decode_modes:
        return "fast"
    limit = entry.auto_generative_up_to
    return "fast" if limit is not None and quality is not None and quality > limit else "generative"


def decode_precision(precision: str = "bfloat16", device: str = "auto") -> str:
    """The arithmetic an encode or decode with ``precision`` on ``device`` runs its transforms in:
    ``"bfloat16"`` stays bfloat16 except on a CPU without bfloat16 instructions, where emulating them
    would be several times slower than float32 (dicodec.codec.precision), so such a call runs float32."""
    check_precision(precision)
    from dicodec.codec.precision import effective_precision

    return effective_precision(_device(device), precision)


__all__ = [
    "check_precision",
    "decode_precision",
    "ImageLike",
    "DecodeMode",
    "OutputKind",
    "DECODE_MODES",
    "OUTPUT_KINDS",
    "DEFAULT_MAX_PIXELS",
    "to_tensor",
    "to_output",
    "check_quality",
    "check_tile_size",
    "check_decode_options",
    "decode_mode",
]
