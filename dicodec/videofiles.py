"""Video files in and out (PyAV): what ``dicodec encode`` reads from a clip and ``decode`` writes.

Reading (:func:`open_video`) yields RGB uint8 frames one at a time from any container FFmpeg reads
(MP4/MOV, Matroska/WebM, Y4M, ...), recognised by its first bytes (:func:`sniff`), not its name. A
clip is refused with a one-line :class:`~dicodec.errors.VideoError` when it is damaged, holds no video
frames, or has a variable frame rate (a ``.dicv`` stores one exact frame rate; coding such a clip
would change its timing silently). Audio and subtitle streams are not read.

Writing (:class:`VideoSink`) puts decoded frames into Y4M (raw 4:4:4, every size), MKV or MP4 (H.264
4:4:4 at QP 0, lossless in Y'CbCr), or a folder of PNG files (exact RGB). The RGB <-> Y'CbCr conversion
of the first three is FFmpeg's (BT.601, limited range): up to 2 levels of error per channel, which is
why a PNG folder is the output for measurements.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from dicodec.errors import VideoError

# Container signatures: Y4M, EBML (Matroska / WebM), ISO BMFF boxes (MP4 / MOV), RIFF AVI
_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
WRITE_SUFFIXES = {".y4m": "yuv4mpegpipe", ".mkv": "matroska", ".mp4": "mp4"}
VFR_TOLERANCE = 0.25  # of a frame period: timestamps rounded to a coarse time base still pass


def sniff(head: bytes) -> bool:
    """Whether ``head`` (a file's first 12+ bytes) starts a video container dicodec reads."""
    return (
        head.startswith(b"YUV4MPEG2")
        or head.startswith(b"\x1a\x45\xdf\xa3")
        or head[4:8] in _BMFF_BOXES
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
    )


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a video container (by content); False if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return sniff(f.read(12))
    except OSError:
        return False


def is_dicv_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a dicodec video bitstream (its magic); False for ``-``."""
    from dicodec.bitstream.video import is_video

    if os.fspath(path) == "-":
        return False
    try:
        with open(path, "rb") as f:
            return is_video(f.read(8))
    except OSError:
        return False


def _av_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.FFmpegError, ValueError, OSError, IndexError)


@dataclass
class VideoSource:
    """An opened clip: its frame rate, size, whether it has audio, and its frames (read lazily)."""

    path: str
    fps: Fraction
    width: int
    height: int
    has_audio: bool
    frame_count: int  # what the container says; 0 when it does not know
    _container: Any

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 (H, W, 3) frames, one at a time; the file is closed at the end.

        Raises:
            VideoError: damaged data, no frames, or a variable frame rate.
        """
        container = self._container
        stream = container.streams.video[0]
        period = 1 / self.fps
        last, count = None, 0
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and frame.time_base is not None:
                    t = Fraction(frame.pts) * Fraction(frame.time_base)
                    tick = Fraction(frame.time_base)
                    if last is not None and abs(t - last - period) > max(tick, VFR_TOLERANCE * period):
                        raise VideoError(
                            f"{self.path}: variable frame rate (frame {count} comes {float(t - last):.4f} s "
                            f"after the previous one, not {float(period):.4f} s); dicodec codes clips "
                            "with one frame rate"
                        )
                    last = t
                yield frame.to_ndarray(format="rgb24")
                count += 1
        except _av_errors() as exc:
            raise VideoError(f"{self.path}: damaged video data after {count} frames ({exc})") from exc
        finally:
            container.close()
        if count == 0:
            raise VideoError(f"{self.path}: the video stream has no frames")


def open_video(path: str | os.PathLike[str]) -> VideoSource:
    """Open a clip for reading (header only; frames come from :meth:`VideoSource.frames`).

    Raises:
        VideoError: not a video FFmpeg can read, or no video stream.
    """
    import av

    name = os.fspath(path)
    try:
        container = av.open(name)
    except _av_errors() as exc:
        raise VideoError(f"{name}: not a readable video ({' '.join(str(exc).split())})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{name}: no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        container.close()
        raise VideoError(f"{name}: the video stream has no frame rate")
    ctx = stream.codec_context
    return VideoSource(
        path=name,
        fps=Fraction(rate).limit_denominator(2**20),
        width=int(ctx.width or 0),
        height=int(ctx.height or 0),
        has_audio=bool(container.streams.audio),
        frame_count=int(stream.frames or 0),
        _container=container,
    )


def output_kind(path: str | os.PathLike[str]) -> str:
    """``"y4m"``, ``"mkv"``, ``"mp4"`` from the suffix, ``"png"`` (a folder) for anything without one.

    Raises:
        VideoError: another suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix in WRITE_SUFFIXES:
        return suffix[1:]
    if suffix == "" or os.fspath(path).endswith(os.sep):
        return "png"
    raise VideoError(f"{path}: decoded clips are written as .y4m, .mkv, .mp4 or a folder of PNG frames")


class VideoSink:
    """Writes RGB frames to ``path`` in ``kind`` (:func:`output_kind`): a file, or PNG files in a folder.

    The CLI points it at a temporary name and renames the result when every frame is written.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str, width: int, height: int, fps: Fraction):
        self.path, self.kind, self.count = Path(path), kind, 0
        self._container = self._stream = None
        if kind == "png":
            self.path.mkdir(parents=True, exist_ok=True)
            return
        import av

        fmt = WRITE_SUFFIXES["." + kind]
        self._container = av.open(str(self.path), "w", format=fmt)
        stream = self._container.add_stream("rawvideo" if kind == "y4m" else "libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        if kind != "y4m":
            stream.options = {"qp": "0", "preset": "veryfast"}
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        if self.kind == "png":
            from PIL import Image

            Image.fromarray(frame, "RGB").save(self.path / f"frame_{self.count:06d}.png", compress_level=6)
        else:
            import av

            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf = vf.reformat(format="yuv444p")
            vf.pts = self.count
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        self.count += 1

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None


__all__ = ["VideoSink", "VideoSource", "is_dicv_file", "is_video_file", "open_video", "output_kind", "sniff"]
