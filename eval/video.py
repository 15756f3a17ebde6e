"""Video evaluation: x264, x265, AV1 (and VP9) through PyAV, with a hook for dicodec video.

Source frames are decoded with PyAV as 8-bit Y'CbCr 4:2:0 (converted by swscale only when the file
is in another format, and cropped to even sizes), and those planes are fed to the encoders as they
are, so the baselines pay no colour conversion. Metrics are computed on RGB, which is what dicodec
will consume and produce: source and decoded planes go through the *same* conversion (BT.709 when
the stream says so, else BT.601; limited or full range per the stream's tag), done in numpy.

Rate is ``8 * file bytes / (width * height * frames)``: bits per pixel per frame. Streams are
written in the leanest standard form: raw Annex-B for H.264/HEVC, the AV1 low-overhead OBU stream
(AV1 spec Section 5) and IVF for VP9 (32-byte header + 12 bytes per frame). The encoders' version
SEI is dropped (x265 ``info=0``; x264's with FFmpeg's ``filter_units=remove_types=6`` bitstream
filter), since it is metadata of ~700 bytes that would dominate very low rates on short clips.
Each encoder runs with its default GOP structure (for a 30-frame clip: one intra frame, then
inter frames) and a CRF-style constant-quality rate control.

Temporal flicker (lower is better, 0 = temporally faithful), on BT.601 luma in 8-bit levels:

    F = mean over t >= 1 and pixels of |(D_t - D_{t-1}) - (S_t - S_{t-1})|

with ``D`` the decoded and ``S`` the source frames. It is the error of the frame-to-frame change:
static noise that is the same in every frame costs nothing, while detail that is re-synthesised
differently in each frame (the typical failure of per-frame generative decoding) or pumping
between key and inter frames does. It is a proxy, not a calibrated perceptual model.

LPIPS-Alex, LPIPS-VGG and DISTS are computed on every frame by the image evaluation's
:meth:`~dicodec.eval.learned.LearnedMetrics.pair_metrics` (same networks, same preprocessing) and
averaged over the frames like the other pair metrics; each network is loaded once per run. Without
their weights they are "not measured" (with the command that fetches them), as in the image report.

dicodec video (:func:`make_dicodec_video`) codes the RGB frames with ``dicodec.encode_video(frames,
quality, fps=..., device=...)`` (its default GOP; docs/video.md) and decodes each file twice: the
``dicodec-fast`` curve with ``dicodec.decode_video(data, mode="fast", device=...)``, and the
``dicodec-framegen`` curve with the image generative (DiT-IC) decoder applied to every frame on its own
(:func:`dicodec.codec.video.framewise.decode_framewise`): the per-frame baseline that GNVC-VD says
flickers and that a video refinement must beat. It is "not available" where the image codec has no
DiT decoder.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from . import colors
from . import niqe as niqe_mod
from .aggregate import Record, average_curves, bd_table, mean_or_none
from .image_codecs import CodecUnavailable, _is_unavailable, encoder_version, pyav_has_encoder
from .learned import LearnedMetrics, metric_status
from .metrics import METRICS, caveat, compute_pair_metrics, format_notes, na_reason

if TYPE_CHECKING:
    from .config import EvalConfig

# Candidates in order of preference; the first one the installed FFmpeg has is used.
ENCODER_CANDIDATES: dict[str, tuple[str, ...]] = {
    "x264": ("libx264",),
    "x265": ("libx265",),
    "av1": ("libsvtav1", "libaom-av1", "librav1e"),
    "vp9": ("libvpx-vp9",),
}

# CRF sweeps giving roughly 0.005..0.3 bpp per frame on the bundled 640x272 clip.
DEFAULT_VIDEO_QUALITIES: dict[str, tuple[float, ...]] = {
    "x264": (42, 37, 32, 27, 22),
    "x265": (42, 37, 32, 27, 22),
    "libsvtav1": (58, 50, 42, 34, 26),
    "libaom-av1": (58, 50, 42, 34, 26),
    "librav1e": (200, 160, 120, 80, 40),
    "vp9": (58, 50, 42, 34, 26),
    "dicodec": (5, 20, 35, 50, 65, 80, 95),
    "dicodec-intra": (5, 20, 35, 50, 65, 80, 95),
}
VIDEO_CODECS = ("dicodec", "dicodec-intra", "x264", "x265", "av1", "vp9")


@dataclass
class Clip:
    """The first frames of one video, as the 4:2:0 planes fed to encoders and as RGB for metrics."""

    name: str
    path: Path
    fps: Fraction
    yuv: list[np.ndarray]  # each (H * 3 / 2, W) uint8, PyAV's yuv420p layout
    rgb: np.ndarray  # (T, H, W, 3) uint8
    matrix: colors.Matrix
    full_range: bool
    source_format: str

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])


def yuv420_to_rgb(planes: np.ndarray, matrix: colors.Matrix, full_range: bool) -> np.ndarray:
    """PyAV yuv420p array (H*3/2, W) -> uint8 RGB, bilinear chroma upsampling."""
    y, u, v = colors.unpack_yuv420(planes)
    h, w = y.shape
    ycc = np.stack([y, colors.upsample_chroma(u, h, w), colors.upsample_chroma(v, h, w)], axis=-1)
    return colors.ycbcr_to_rgb(ycc, matrix, full_range)


def read_clip(path: Path, max_frames: int, name: str | None = None) -> Clip:
    """Decode up to ``max_frames`` frames of the first video stream."""
    import av

    yuv: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(25)
        matrix: colors.Matrix = "bt709" if int(ctx.colorspace or 2) == 1 else "bt601"
        full = int(ctx.color_range or 0) == 2
        fmt = ctx.pix_fmt or "?"
        for frame in container.decode(stream):
            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            w, h = frame.width - frame.width % 2, frame.height - frame.height % 2
            # Read the planes through their buffers (rows padded to line_size): this also works for
            # odd sizes, which PyAV's to_ndarray refuses, and crops them to even.
            y, u, v = (
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:hh, :ww]
                for p, hh, ww in zip(frame.planes, (h, h // 2, h // 2), (w, w // 2, w // 2), strict=True)
            )
            yuv.append(colors.pack_yuv420(y, u, v))
            if len(yuv) >= max_frames:
                break
    if not yuv:
        raise ValueError(f"{path}: no video frames")
    rgb = np.stack([yuv420_to_rgb(a, matrix, full) for a in yuv])
    return Clip(name or path.stem, path, fps, yuv, rgb, matrix, full, fmt)


# --------------------------------------------------------------------------- codecs


@dataclass
class VideoCodec:
    """A video codec adapter: encode a clip at one quality to bytes; decode to RGB frames."""

    name: str
    param: str
    settings: str
    library: Callable[[], str]
    encode: Callable[[Clip, float], bytes]
    # RGB (T, H, W, 3), or a list of yuv420p planes (converted to RGB outside the decode timing,
    # so "dec s" is the codec's time, not our numpy colour conversion).
    decode: Callable[[bytes, str, Clip], Any]
    qualities: tuple[float, ...]
    curves: list[str] = field(default_factory=list)
    check: Callable[[], str | None] = lambda: None

    def __post_init__(self) -> None:
        if not self.curves:
            self.curves = [self.name]


_MUXER = {
    "libx264": "h264",
    "libx265": "hevc",
    "libsvtav1": "obu",
    "libaom-av1": "obu",
    "librav1e": "obu",
    "libvpx-vp9": "ivf",
}


def _options(encoder: str, q: float) -> dict[str, str]:
    qs = str(int(q))
    return {
        "libx264": {"crf": qs, "preset": "medium"},
        "libx265": {"crf": qs, "preset": "medium", "x265-params": "info=0:log-level=error"},
        "libsvtav1": {"crf": qs, "preset": "8"},
        "libaom-av1": {"crf": qs, "b": "0", "cpu-used": "6", "row-mt": "1"},
        "librav1e": {"qp": qs, "speed": "8"},
        "libvpx-vp9": {"crf": qs, "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
    }[encoder]


def _pyav_encode(encoder: str) -> Callable[[Clip, float], bytes]:
    def encode(clip: Clip, q: float) -> bytes:
        import av
        import av.bitstream

        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs every setting at info level otherwise
        buf = io.BytesIO()
        with av.open(buf, "w", format=_MUXER[encoder]) as out:
            stream = out.add_stream(encoder, rate=clip.fps)
            stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
            stream.options = _options(encoder, q)
            bsf = (
                av.bitstream.BitStreamFilterContext("filter_units=remove_types=6", stream)
                if encoder == "libx264"
                else None
            )

            def mux(packets: Any) -> None:
                for p in packets:
                    for fp in bsf.filter(p) if bsf is not None else [p]:
                        out.mux(fp)

            for i, planes in enumerate(clip.yuv):
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = i
                mux(stream.encode(frame))
            mux(stream.encode(None))
            if bsf is not None:
                for fp in bsf.filter(None):
                    out.mux(fp)
        return buf.getvalue()

    return encode


def _pyav_decode(encoder: str) -> Callable[[bytes, str, Clip], list[np.ndarray]]:
    def decode(data: bytes, curve: str, clip: Clip) -> list[np.ndarray]:
        import av

        with av.open(io.BytesIO(data), "r", format=_MUXER[encoder]) as container:
            return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]

    return decode


def available_encoders() -> dict[str, bool]:
    """Every candidate encoder and whether this PyAV/FFmpeg build has it (reported in the results)."""
    return {e: pyav_has_encoder(e) for names in ENCODER_CANDIDATES.values() for e in names}


def make_video_codec(
    name: str, *, device: str = "auto", dicodec_model: str | None = None, inter_model: str | None = None
) -> VideoCodec:
    """Build video codec ``name`` (x264, x265, av1, vp9, dicodec); ``inter_model`` (dicodec only): a
    contextual inter model's file or registered name."""
    if name == "dicodec":
        return make_dicodec_video(dicodec_model, device, inter_model=inter_model)
    if name == "dicodec-intra":
        return make_dicodec_video(dicodec_model, device, gop=1)
    if name not in ENCODER_CANDIDATES:
        raise ValueError(f"unknown video codec {name!r}; known: {', '.join(VIDEO_CODECS)}")
    cands = ENCODER_CANDIDATES[name]
    encoder = next((e for e in cands if pyav_has_encoder(e)), cands[0])
    opts = {k: v for k, v in _options(encoder, 0).items() if k not in ("crf", "qp")}
    param = "qp" if encoder == "librav1e" else "crf"
    quals = DEFAULT_VIDEO_QUALITIES.get(name) or DEFAULT_VIDEO_QUALITIES[encoder]
    extra = ", version SEI removed (filter_units=remove_types=6)" if encoder == "libx264" else ""
    return VideoCodec(
        name=name,
        param=param,
        settings=f"{encoder}, {param} sweep, {opts}, yuv420p 8-bit, default GOP, "
        f"{_MUXER[encoder]} stream{extra}",
        library=lambda: encoder_version(encoder),
        encode=_pyav_encode(encoder),
        decode=_pyav_decode(encoder),
        qualities=quals,
        check=lambda: None if pyav_has_encoder(encoder) else f"PyAV/FFmpeg has none of {', '.join(cands)}",
    )


FRAMEGEN_CURVE = "dicodec-framegen"  # the image DiT decoder on every frame alone (not a video decoder)


def _decode_framewise(data: bytes, device: str) -> Any:
    import torch

    from dicodec.codec.video.framewise import decode_framewise

    from .sysinfo import resolve_device

    return decode_framewise(data, device=torch.device(resolve_device(device)))[1]


def make_dicodec_video(
    model: str | None = None, device: str = "auto", gop: int | None = None, inter_model: str | None = None
) -> VideoCodec:
    """dicodec video as a :class:`VideoCodec` (see the module docstring).

    With ``gop=1`` it is ``dicodec-intra``: every frame coded as an image in the same container, the
    reference that tells what the inter frames save (docs/video.md); it has the fast curve only.
    """
    import dicodec

    name = "dicodec-intra" if gop == 1 else "dicodec"
    gop_kw = {} if gop is None else {"gop": gop}
    if inter_model is not None:
        from dicodec.codec.video import models

        inter_model = models.resolve(inter_model)
        gop_kw["inter_model"] = inter_model

    def check() -> str | None:
        if not (hasattr(dicodec, "encode_video") and hasattr(dicodec, "decode_video")):
            return "dicodec has no video API yet (dicodec.encode_video / decode_video)"
        return None

    def encode(clip: Clip, q: float) -> bytes:
        try:
            return dicodec.encode_video(
                clip.rgb, quality=int(q), fps=clip.fps, model=model, device=device, **gop_kw
            )
        except Exception as e:
            if _is_unavailable(e):
                raise CodecUnavailable(f"dicodec.encode_video: {type(e).__name__}: {e}") from e
            raise

    def decode(data: bytes, curve: str, clip: Clip) -> np.ndarray:
        framegen = curve == FRAMEGEN_CURVE  # the other curves (fast, intra) are the fast decode
        call = "per-frame generative decode" if framegen else "dicodec.decode_video(mode='fast')"
        try:
            if framegen:
                frames = _decode_framewise(data, device)
            else:
                frames = dicodec.decode_video(data, mode="fast", device=device, output="numpy")
            out = np.stack(list(frames))
        except Exception as e:
            if _is_unavailable(e):
                raise CodecUnavailable(f"{call}: {type(e).__name__}: {e}") from e
            raise
        return out

    return VideoCodec(
        name=name,
        param="quality 0..100",
        settings=f"model={model or 'default'}, device={device}, gop={gop or 'default'}"
        + (f", inter model {inter_model}" if inter_model else "")
        + ("" if gop == 1 else f"; {FRAMEGEN_CURVE}: its image DiT decoder on each frame, realism 1"),
        library=lambda: f"dicodec {dicodec.__version__}",
        encode=encode,
        decode=decode,
        qualities=DEFAULT_VIDEO_QUALITIES[name],
        curves=["dicodec-intra"] if gop == 1 else ["dicodec-fast", FRAMEGEN_CURVE],
        check=check,
    )


# --------------------------------------------------------------------------- metrics


def flicker(src: np.ndarray, dec: np.ndarray) -> float | None:
    """Mean |(D_t - D_{t-1}) - (S_t - S_{t-1})| on BT.601 luma over t >= 1; None for one frame."""
    if len(src) < 2:
        return None
    ys = np.stack([colors.luma(f) for f in src])
    yd = np.stack([colors.luma(f) for f in dec])
    return float(np.mean(np.abs(np.diff(yd, axis=0) - np.diff(ys, axis=0))))


PER_FRAME_KEPT = ("psnr_rgb", "psnr_y", "ms_ssim", "lpips", "lpips_vgg", "dists")


def score_clip(
    src: np.ndarray,
    dec: np.ndarray,
    metrics: list[str],
    device: str = "cpu",
    learned: LearnedMetrics | None = None,
) -> tuple[dict, dict]:
    """Clip-level means of per-frame metrics, flicker, and the per-frame series of the main ones.

    Args:
        learned: the run's learned-metric holder; LPIPS/DISTS in ``metrics`` are computed per frame
            with it (exactly as for an image) and skipped when it is None.
    """
    per_frame: dict[str, list[float | None]] = {}
    for s, d in zip(src, dec, strict=True):
        vals: dict[str, float | None] = compute_pair_metrics(s, d, metrics, device)
        if learned is not None:
            vals.update(learned.pair_metrics(s, d, metrics))
        if "niqe" in metrics:
            vals["niqe"] = niqe_mod.niqe(colors.luma(d)) if na_reason("niqe", d.shape) is None else None
        for k, v in vals.items():
            per_frame.setdefault(k, []).append(v)
    out: dict[str, float | None] = {k: mean_or_none(v) for k, v in per_frame.items()}
    if "flicker" in metrics:
        out["flicker"] = flicker(src, dec)
    return out, {k: v for k, v in per_frame.items() if k in PER_FRAME_KEPT}


VIDEO_METRIC_SCOPES = ("pair", "noref", "video")


def run_videos(
    paths: list[Path], cfg: EvalConfig, metrics: list[str], learned: LearnedMetrics | None = None
) -> dict[str, Any]:
    """Evaluate the video codecs of ``cfg`` on ``paths`` (first ``cfg.max_frames`` frames each).

    Args:
        learned: the learned-metric holder (shared with the image section by
            :func:`~dicodec.eval.runner.evaluate`); built from ``cfg`` when None. LPIPS/DISTS whose
            weights are missing are reported "not measured" with the command that fetches them,
            exactly as for images, and cost nothing per frame.
    """
    from .sysinfo import resolve_device

    device = resolve_device(cfg.device)
    learned = learned or LearnedMetrics(cfg.weights_dir, device)
    metrics = [m for m in metrics if METRICS[m].scope in VIDEO_METRIC_SCOPES]
    scored = [m for m in metrics if not METRICS[m].needs_weights or learned.available(m)]
    codecs = [
        make_video_codec(
            n, device=cfg.device, dicodec_model=cfg.dicodec_model, inter_model=cfg.dicodec_inter_model
        )
        for n in cfg.video_codecs
    ]
    unavailable: dict[str, str] = {}
    for c in codecs:
        reason = c.check()
        if reason:
            for curve in c.curves:
                unavailable[curve] = f"not available ({reason})"

    def quals(c: VideoCodec) -> list[float]:
        return list(cfg.qualities.get(c.name, c.qualities))

    clips_info: list[Record] = []
    records: list[Record] = []
    errors: list[str] = []
    notes: dict[str, dict[str, list[str]]] = {}
    live = [c for c in codecs if not all(cv in unavailable for cv in c.curves)]
    total = len(paths) * sum(len(quals(c)) for c in live)
    with tqdm(total=total, desc="video encodes", disable=not cfg.progress, unit="enc") as bar:
        for path in paths:
            clip = read_clip(path, cfg.max_frames)
            for m in metrics:
                reason = na_reason(m, clip.rgb.shape[1:]) or caveat(m, clip.rgb.shape[1:])
                if reason:
                    notes.setdefault(m, {}).setdefault(reason, []).append(
                        f"{clip.name} ({clip.width}x{clip.height})"
                    )
            clips_info.append(
                {
                    "video": clip.name,
                    "path": str(path),
                    "width": clip.width,
                    "height": clip.height,
                    "frames": len(clip.rgb),
                    "fps": float(clip.fps),
                    "source_format": clip.source_format,
                    "rgb_conversion": f"{clip.matrix}, {'full' if clip.full_range else 'limited'} range",
                }
            )
            for codec in live:
                for q in quals(codec):
                    bar.update()
                    bar.set_postfix_str(f"{clip.name} {codec.name} {q}")
                    rec = _one(codec, clip, q, scored, device, unavailable, errors, learned)
                    records.extend(rec)

    curves = [cv for c in codecs for cv in c.curves]
    qmap = {cv: quals(c) for c in codecs for cv in c.curves}
    rows = average_curves(records, curves, qmap, metrics)
    anchor = cfg.video_anchor
    return {
        "kind": "video",
        "sources": clips_info,
        "codecs": {
            cv: {
                "codec": c.name,
                "param": c.param,
                "qualities": quals(c),
                "settings": c.settings,
                "library": c.library(),
                "status": unavailable.get(cv, "ok"),
            }
            for c in codecs
            for cv in c.curves
        },
        "encoders_available": available_encoders(),
        "records": records,
        "average": rows,
        "bd": bd_table(rows, curves, anchor, metrics, cfg.bd_method),
        "metric_status": metric_status(metrics, learned, format_notes(notes)),
        "errors": errors,
        "rate_unit": "bits per pixel per frame",
    }


def _one(
    codec: VideoCodec,
    clip: Clip,
    q: float,
    metrics: list[str],
    device: str,
    unavailable: dict[str, str],
    errors: list[str],
    learned: LearnedMetrics | None = None,
) -> list[Record]:
    if all(cv in unavailable for cv in codec.curves):
        return []
    try:
        t0 = time.perf_counter()
        data = codec.encode(clip, q)
        enc_s = time.perf_counter() - t0
    except CodecUnavailable as e:
        for cv in codec.curves:
            unavailable.setdefault(cv, f"not available ({e})")
        return []
    except Exception as e:
        errors.append(f"{codec.name} q={q} on {clip.name}: encode failed: {type(e).__name__}: {e}")
        return []
    out = []
    n, h, w = len(clip.rgb), clip.height, clip.width
    for curve in codec.curves:
        if curve in unavailable:
            continue
        try:
            t0 = time.perf_counter()
            dec = codec.decode(data, curve, clip)
            dec_s = time.perf_counter() - t0
            if isinstance(dec, list):
                dec = np.stack([yuv420_to_rgb(a, clip.matrix, clip.full_range) for a in dec])
        except CodecUnavailable as e:
            unavailable.setdefault(curve, f"not available ({e})")
            continue
        except Exception as e:
            errors.append(f"{curve} q={q} on {clip.name}: decode failed: {type(e).__name__}: {e}")
            continue
        if dec.shape != clip.rgb.shape:
            errors.append(f"{curve} q={q} on {clip.name}: decoded {dec.shape}, source {clip.rgb.shape}")
            continue
        vals, per_frame = score_clip(clip.rgb, dec, metrics, device, learned)
        rec: Record = {
            "video": clip.name,
            "codec": curve,
            "family": codec.name,
            "quality": q,
            "bytes": len(data),
            "frames": n,
            "bpp": len(data) * 8.0 / (w * h * n),
            "kbps": len(data) * 8.0 * float(clip.fps) / n / 1000,
            "encode_s": enc_s,
            "decode_s": dec_s,
            **vals,
            "per_frame": per_frame,
        }
        out.append(rec)
    return out
