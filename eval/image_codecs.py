"""Image codecs under test: dicodec and the conventional anchors, behind one small interface.

Every codec turns a uint8 HxWx3 RGB image and a quality number into the bytes of a complete,
decodable file (headers included: that is what ``bpp`` counts) and back. The exact settings and
library versions of each are reported, because an anchor without its settings is not reproducible.

=========  =====================================================  ==================================
name       library and settings                                    quality parameter
=========  =====================================================  ==================================
jpeg       Pillow / libjpeg-turbo, 4:2:0, optimize=True (Huffman)  Pillow quality 1..95
webp       Pillow / libwebp, lossy, method=6 (slowest, best)        quality 0..100
avif       Pillow / libavif + libaom, 4:4:4, speed 6, full range    quality 0..100
avif420    same, 4:2:0                                             quality 0..100
jxl        imagecodecs / libjxl, effort 7, codestream (no box)     Butteraugli distance (lower=better)
hevc       PyAV / libx265 intra, Y'CbCr 4:4:4 8-bit BT.601 full    QP 0..51 (the BPG-like anchor)
hevc420    same, 4:2:0                                             QP 0..51
dicodec    dicodec.encode / dicodec.decode, one curve per mode     quality 0..100
=========  =====================================================  ==================================

The HEVC anchor stands in for BPG (Bellard), the usual "HEVC intra" point of the learned-codec
literature (CompressAI and Minnen et al. 2018 report BPG 4:4:4): one intra frame, constant QP,
x265 preset ``slow``, written as a raw Annex-B elementary stream (VPS/SPS/PPS + slice, no container);
x265's version-string SEI is switched off (``info=0``), as it is metadata, not image data. The colour
conversion is done here (BT.601 full range, like BPG's default) because swscale's loses ~3 dB.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, features

from . import colors

# Sane sweeps: about 0.05..1.5 bpp on the skimage photos (the encoders' floors are higher than
# 0.03 bpp for JPEG, WebP, AVIF via Pillow and JPEG XL; only HEVC and dicodec go that low).
DEFAULT_QUALITIES: dict[str, tuple[float, ...]] = {
    "jpeg": (5, 10, 20, 35, 55, 75, 85),
    "webp": (0, 10, 25, 50, 75, 90),
    "avif": (5, 15, 30, 45, 60, 75),
    "avif420": (5, 15, 30, 45, 60, 75),
    "jxl": (15, 9, 5, 3, 1.8, 1.1),
    "hevc": (47, 42, 37, 32, 27, 22),
    "hevc420": (47, 42, 37, 32, 27, 22),
    "dicodec": (5, 20, 35, 50, 65, 80, 95),
    "dicodec-refine": (5, 20, 35, 50, 65, 80, 95),  # the same, latents refined at encode (fast decode)
}


class CodecUnavailable(RuntimeError):
    """The codec (or one decode mode of it) cannot run here; the message says why."""


@dataclass
class ImageCodec:
    """One codec: encode/decode callables plus what the report needs to know about it."""

    name: str
    param: str  # what the quality number means
    settings: str
    library: Callable[[], str]  # versions, computed lazily
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes, str], np.ndarray]
    curves: list[str] = field(default_factory=list)
    check: Callable[[], str | None] = lambda: None  # reason the codec cannot run, or None
    # HEVC 4:2:0 cannot code odd sizes (conformance window offsets are in chroma units), so the
    # encoder pads one row/column, whose bits count, and the runner crops the decoded image back,
    # as BPG does with the size in its own header.
    may_pad: bool = False

    def __post_init__(self) -> None:
        if not self.curves:
            self.curves = [self.name]


# --------------------------------------------------------------------------- Pillow codecs


def _pil_encode(fmt: str, quality_key: str, **opts: Any) -> Callable[[np.ndarray, float], bytes]:
    def encode(img: np.ndarray, q: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt, **{quality_key: int(q)}, **opts)
        return buf.getvalue()

    return encode


def _pil_decode(data: bytes, curve: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _pil_version(feature: str) -> str:
    import PIL

    extra = ""
    if feature == "avif":
        try:
            from PIL import _avif  # type: ignore[attr-defined]

            extra = f" ({_avif.codec_versions()})"
        except Exception:  # pragma: no cover - depends on the Pillow build
            pass
    if feature == "jpg" and features.check_feature("libjpeg_turbo"):
        return f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    return f"Pillow {PIL.__version__}, lib{feature} {features.version(feature)}{extra}"


def _pil_check(feature: str) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if features.check(feature) else f"this Pillow build has no {feature} support"

    return check


# --------------------------------------------------------------------------- JPEG XL


def _jxl_encode(img: np.ndarray, distance: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(img, distance=float(distance), effort=7))


def _jxl_decode(data: bytes, curve: str) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data))


def _jxl_version() -> str:
    import imagecodecs

    return f"imagecodecs {imagecodecs.__version__}, {imagecodecs.jpegxl_version()}"


def _jxl_check() -> str | None:
    try:
        import imagecodecs
    except ImportError:
        return "imagecodecs is not installed"
    return None if imagecodecs.JPEGXL.available else "imagecodecs was built without libjxl"


# --------------------------------------------------------------------------- HEVC intra (x265)


def _hevc_encode(chroma: str) -> Callable[[np.ndarray, float], bytes]:
    def encode(img: np.ndarray, qp: float) -> bytes:
        import av

        padded = colors.pad_to_even(img) if chroma == "420" else img
        ycc = colors.rgb_to_ycbcr(padded, "bt601", full_range=True)
        if chroma == "444":
            frame = av.VideoFrame.from_ndarray(colors.quantize(ycc.transpose(2, 0, 1)), format="yuv444p")
        else:
            planes = [colors.quantize(ycc[..., 0])] + [
                colors.quantize(colors.downsample_chroma(ycc[..., c])) for c in (1, 2)
            ]
            frame = av.VideoFrame.from_ndarray(colors.pack_yuv420(*planes), format="yuv420p")
        buf = io.BytesIO()
        with av.open(buf, "w", format="hevc") as out:
            stream = out.add_stream("libx265", rate=1)
            stream.width, stream.height = frame.width, frame.height
            stream.pix_fmt = frame.format.name
            stream.options = {"preset": "slow", "x265-params": _x265_params(int(qp))}
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        return buf.getvalue()

    return encode


def _x265_params(qp: int) -> str:
    return f"qp={qp}:keyint=1:info=0:range=full:colormatrix=smpte170m:log-level=error"


def _hevc_decode(data: bytes, curve: str) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data), "r", format="hevc") as container:
        frame = next(iter(container.decode(video=0)))
    if frame.format.name == "yuv444p":
        ycc = frame.to_ndarray().transpose(1, 2, 0)
    else:
        y, u, v = colors.unpack_yuv420(frame.to_ndarray())
        h, w = y.shape
        ycc = np.stack([y, colors.upsample_chroma(u, h, w), colors.upsample_chroma(v, h, w)], axis=-1)
    return colors.ycbcr_to_rgb(ycc, "bt601", full_range=True)


@functools.cache
def encoder_version(codec: str) -> str:
    """Version string of a PyAV encoder: x264/x265 write it into their SEI, so encode one tiny frame."""
    import av

    versions = av.library_versions.get("libavcodec", ())
    base = f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, versions))}"
    patterns = {"libx265": rb"x265 \(build \d+\) - [^ :]+", "libx264": rb"x264 - core \d+( r\d+ [0-9a-f]+)?"}
    if codec not in patterns:
        return f"{base}, {codec} (PyAV does not expose its version)"
    try:
        buf = io.BytesIO()
        fmt = "hevc" if codec == "libx265" else "h264"
        with av.open(buf, "w", format=fmt) as out:
            s = out.add_stream(codec, rate=1)
            s.width = s.height = 64
            s.pix_fmt = "yuv420p"
            if codec == "libx265":
                s.options = {"x265-params": "log-level=error"}
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((96, 64), np.uint8), format="yuv420p")):
                out.mux(p)
            for p in s.encode(None):
                out.mux(p)
        m = re.search(patterns[codec], buf.getvalue())
        return f"{base}, {m.group(0).decode() if m else codec}"
    except Exception:  # pragma: no cover - version probing must never break a run
        return f"{base}, {codec}"


def pyav_has_encoder(name: str) -> bool:
    """Whether the installed PyAV/FFmpeg build can encode with ``name``."""
    try:
        import av

        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def _hevc_check() -> str | None:
    return None if pyav_has_encoder("libx265") else "PyAV/FFmpeg has no libx265 encoder"


# --------------------------------------------------------------------------- dicodec


def _is_unavailable(exc: BaseException) -> bool:
    """NotImplementedError or any deliberate dicodec error (UnavailableError, ModelError, ...)."""
    import dicodec

    return isinstance(exc, NotImplementedError | dicodec.DicodecError)


def dicodec_modes(model: str | None = None) -> tuple[list[str], str]:
    """Decode modes of the chosen dicodec model per ``dicodec.list_models()``, and where that came from.

    If the registry cannot be read (API not implemented yet), both documented modes are tried and
    each that fails is reported "not available".
    """
    import dicodec

    fallback = ["fast", "generative"]
    try:
        models = dicodec.list_models()
    except Exception as e:
        if not _is_unavailable(e):
            raise
        return fallback, f"dicodec.list_models() unavailable ({type(e).__name__}); trying {fallback}"
    if not models:
        return fallback, f"dicodec.list_models() is empty; trying {fallback}"
    chosen = None
    for m in models:
        if (model is not None and m.get("name") == model) or (model is None and m.get("default")):
            chosen = m
            break
    if chosen is None and models and model is None:
        chosen = models[0]
    if chosen is None:
        raise CodecUnavailable(f"dicodec model {model!r} not in dicodec.list_models()")
    return list(chosen.get("decode_modes") or fallback), f"decode_modes of {chosen.get('name', '?')}"


def make_dicodec(model: str | None = None, device: str = "auto", refine_steps: int = 0) -> ImageCodec:
    """The dicodec adapter: encode once per quality, decode once per mode (one RD curve per mode).

    ``refine_steps`` > 0 gives the ``dicodec-refine`` codec: latents fitted to each image at encode
    (``dicodec.encode(refine_steps=...)``), decoded fast (curve ``dicodec-refine-fast``)."""
    import dicodec

    name, options = "dicodec", {}
    if refine_steps:
        name, options = "dicodec-refine", {"refine_steps": refine_steps}
        modes, source = ["fast"], f"refine_steps={refine_steps}"
    else:
        try:
            modes, source = dicodec_modes(model)
        except CodecUnavailable as e:
            modes, source = ["fast"], str(e)

    def encode(img: np.ndarray, q: float) -> bytes:
        try:
            return dicodec.encode(img, quality=int(q), model=model, device=device, **options)
        except Exception as e:
            if _is_unavailable(e):
                raise CodecUnavailable(f"dicodec.encode: {type(e).__name__}: {e}".rstrip(": ")) from e
            raise

    def decode(data: bytes, curve: str) -> np.ndarray:
        mode = curve.removeprefix(f"{name}-")
        try:
            out = dicodec.decode(data, mode=mode, device=device, output="numpy")
        except Exception as e:
            if _is_unavailable(e):
                raise CodecUnavailable(
                    f"dicodec.decode(mode={mode!r}): {type(e).__name__}: {e}".rstrip(": ")
                ) from e
            raise
        return np.asarray(out, dtype=np.uint8)

    return ImageCodec(
        name=name,
        param="quality 0..100",
        settings=f"model={model or 'default'}, device={device}, modes={modes} ({source})",
        library=lambda: f"dicodec {dicodec.__version__}",
        encode=encode,
        decode=decode,
        curves=[f"{name}-{m}" for m in modes],
    )


# --------------------------------------------------------------------------- registry


def make_codec(
    name: str, *, device: str = "auto", dicodec_model: str | None = None, refine_steps: int = 30
) -> ImageCodec:
    """Build the codec called ``name`` (see the module table)."""
    if name == "jpeg":
        return ImageCodec(
            "jpeg",
            "Pillow quality",
            "baseline, 4:2:0 (subsampling=2), optimize=True",
            lambda: _pil_version("jpg"),
            _pil_encode("JPEG", "quality", subsampling=2, optimize=True),
            _pil_decode,
            check=_pil_check("jpg"),
        )
    if name == "webp":
        return ImageCodec(
            "webp",
            "quality",
            "lossy, method=6, 4:2:0 (fixed by the format)",
            lambda: _pil_version("webp"),
            _pil_encode("WEBP", "quality", method=6, lossless=False),
            _pil_decode,
            check=_pil_check("webp"),
        )
    if name in ("avif", "avif420"):
        ss = "4:2:0" if name == "avif420" else "4:4:4"
        return ImageCodec(
            name,
            "quality",
            f"{ss}, speed=6, range=full, 8-bit, codec=aom (Pillow default 'auto')",
            lambda: _pil_version("avif"),
            _pil_encode("AVIF", "quality", subsampling=ss, speed=6, range="full"),
            _pil_decode,
            check=_pil_check("avif"),
        )
    if name == "jxl":
        return ImageCodec(
            "jxl",
            "Butteraugli distance",
            "lossy VarDCT, effort=7, bare codestream",
            _jxl_version,
            _jxl_encode,
            _jxl_decode,
            check=_jxl_check,
        )
    if name in ("hevc", "hevc420"):
        chroma = "420" if name == "hevc420" else "444"
        return ImageCodec(
            name,
            "QP",
            f"libx265 intra (keyint=1), constant QP, preset slow, Y'CbCr {':'.join(chroma)} 8-bit "
            "BT.601 full range (converted in numpy), info SEI off, raw Annex-B .hevc",
            lambda: encoder_version("libx265"),
            _hevc_encode(chroma),
            _hevc_decode,
            check=_hevc_check,
            may_pad=chroma == "420",
        )
    if name == "dicodec":
        return make_dicodec(dicodec_model, device)
    if name == "dicodec-refine":
        return make_dicodec(dicodec_model, device, refine_steps=refine_steps)
    raise ValueError(f"unknown image codec {name!r}; known: {', '.join(DEFAULT_QUALITIES)}")


IMAGE_CODECS = tuple(DEFAULT_QUALITIES)
