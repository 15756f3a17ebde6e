"""The library API: ``encode``, ``decode``, ``inspect``, ``load_codec``, and the model zoo's
``list_models``, ``fetch_model``, ``add_model``.

The CLI is a thin layer over exactly these functions, so what a script can do and what the command
line can do never drift apart.

Every released model stays usable: a file names its model, and a model that is not installed is
downloaded into the cache on first use (``DICODEC_MODEL_URL``), or, offline (``offline=True`` or
``DICODEC_OFFLINE=1``), refused with a :class:`~dicodec.errors.ModelNotInstalled` that says how to
install it (docs/models.md, *The model zoo*).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from dicodec.errors import DicodecError, ImageError, LimitExceeded, UnavailableError

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


def encode(
    image: ImageLike,
    quality: int = 75,
    *,
    model: str | None = None,
    device: str = "auto",
    tile_size: int | None = None,
    offline: bool | None = None,
) -> bytes:
    """Compress an image to a dicodec bitstream.

    Args:
        image: numpy uint8 array (HxW gray, HxWx3 RGB), PIL image, or torch float tensor in [0, 1]
            shaped (3, H, W) or (1, 3, H, W).
        quality: integer 0 (smallest file) to 100 (best quality); bits grow monotonically with it.
        model: registry name of the codec; ``None`` takes the default preset.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        tile_size: tile side in pixels (multiple of 128, 128..4096); default 2048.
        offline: never download a model that is not installed; default ``DICODEC_OFFLINE``.

    Returns:
        The complete bitstream (header, checksummed chunks). Same input, same bytes, every time.
    """
    from dicodec.bitstream import container
    from dicodec.codec import pipeline, registry

    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 100:
        raise DicodecError(f"quality must be an integer from 0 to 100, got {quality!r}")
    tile_size = pipeline.DEFAULT_TILE if tile_size is None else tile_size
    if (
        tile_size % container.TILE_ALIGN
        or not container.MIN_TILE_SIZE <= tile_size <= container.MAX_TILE_SIZE
    ):
        raise DicodecError(f"tile size must be a multiple of 128 from 128 to 4096, got {tile_size}")
    x = to_tensor(image)
    h, w = x.shape[-2:]
    if max(h, w) > container.MAX_DIM or h * w > container.MAX_PIXELS:
        raise ImageError(
            f"image {w}x{h} exceeds the format's limits ({container.MAX_DIM} px a side, "
            f"{container.MAX_PIXELS} pixels)"
        )
    dev = _device(device)
    entry = registry.get_entry(model)
    codec = registry.load(entry.name, dev, offline=offline)
    return pipeline.encode_image(codec, entry, x.to(dev), int(quality), tile_size)


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
    offline: bool | None = None,
    decoder: str | None = None,
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

    Raises:
        dicodec.DicodecError: any problem with the data; never a bare exception or a crash.
        dicodec.ModelNotInstalled: the file's model is not installed and may not be downloaded.
    """
    from dicodec.bitstream import container
    from dicodec.codec import pipeline, registry

    if mode not in DECODE_MODES:
        raise DicodecError(f"unknown decode mode {mode!r} (auto, fast or generative)")
    if output not in OUTPUT_KINDS:
        raise DicodecError(f"unknown output kind {output!r} (numpy, pil or torch)")
    if isinstance(realism, bool) or not isinstance(realism, (int, float)) or not 0.0 <= realism <= 1.0:
        raise DicodecError(f"realism must be a number from 0 to 1, got {realism!r}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DicodecError(f"decode takes bytes, got {type(data).__name__}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)):
        raise DicodecError(f"max_pixels must be an int or None, got {max_pixels!r}")
    header, tiles = container.read(data)
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise LimitExceeded(
            f"image {header.width}x{header.height} has {header.width * header.height} pixels, more than "
            f"max_pixels={max_pixels}; pass max_pixels=None (CLI: --max-pixels 0) to decode it anyway"
        )
    entry = registry.get_entry(header.model)
    pipeline.check_weights_hash(header, entry)  # before a model is loaded, let alone downloaded
    mode = decode_mode(entry.name, mode)
    if mode not in entry.decode_modes:
        raise UnavailableError(
            f"decode mode {mode!r} is not available for model {entry.name} "
            f"(available: {', '.join(entry.decode_modes)}); no generative DiT decoder weights are shipped "
            "for it yet: use --mode fast"
        )
    if decoder is not None and mode != "generative":
        raise DicodecError(f"decoder={decoder!r} is for the generative mode, not {mode!r}")
    dev = _device(device)
    codec = registry.load(entry.name, dev, offline=offline)
    pipeline.check_model(header, entry, codec)
    decode_tile = None
    if mode == "generative":
        from dicodec.codec.generative_decoder import generative_decode

        dit = registry.load_generative(entry.name, dev, offline=offline, decoder=decoder)

        def decode_tile(strings, shape, coder):
            return generative_decode(codec, dit, strings, shape, header.quality, float(realism), coder)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = pipeline.decode_image(codec, header, tiles, decode_tile, as_uint8=output != "torch")
    return to_output(x, output)


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


__all__ = ["encode", "decode", "inspect", "list_models", "fetch_model", "add_model", "load_codec"]
