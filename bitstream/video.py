"""Container format of dicodec video, ``.dicv`` files, version 2.0 (spec: ``docs/bitstream.md`` part II).

The same chunk design as the image container (:mod:`dicodec.bitstream.container`), with its own magic
so that neither reader mistakes the other's files::

    magic | VHED | (IFRM | PFRM) x frames | VEND      (ancillary chunks may sit between VHED and VEND)

``IFRM`` chunks hold intra frames (coded like an image, decodable on their own), ``PFRM`` chunks inter
frames (coded against the previous decoded frame's latent; from version 2.0 with one scale shift per
latent slice, chosen by the encoder, and varint numbers in both). Every frame whose index is a
multiple of the GOP is intra, so decoding can start at any of them. Version 1.0 files (u32 numbers,
no scale shifts) are read as they always were.

Unlike the image container, the video container is read and written as a *stream*: :class:`VideoWriter`
writes each frame as it is coded and :func:`iter_chunks` yields each frame as it is read, so neither
holds more than one frame's strings, whatever the clip length. The frame count is known only at the
end of an encode: the writer puts it into ``VEND`` and, when the output can seek, patches ``VHED``'s
count too (0 there means "not known when the header was written").

Reading is defensive as in the image container: every length is checked against a hard limit before
anything is read or allocated for it, every chunk's CRC is checked, and every problem raises a subclass
of :class:`dicodec.BitstreamError`.
"""

from __future__ import annotations

import io
import operator
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

from dicodec.bitstream.container import (
    _CHUNK_TYPE,
    _MODEL_NAME,
    MAX_MODEL_NAME,
    MAX_SLICES,
    WEIGHTS_HASH_SIZE,
    Buffer,
    check_chunk_header,
    pack_chunk,
)
from dicodec.bitstream.video_frames import (
    CHUNK_INTER,
    CHUNK_INTRA,
    FRAME_CHUNKS,
    MAX_SCALE_SHIFT,
    Frame,
    frame_payload,
    parse_frame,
)
from dicodec.errors import BadMagic, Corrupt, LimitExceeded, Truncated, UnsupportedVersion

# ---------------------------------------------------------------------------------------------------
# Constants (each mirrors a MUST of docs/bitstream.md part II)
# ---------------------------------------------------------------------------------------------------

# The image magic with "DIC" -> "DCV": same PNG-style transfer checks, never confused with a .dic file
MAGIC = b"\x89DCV\r\n\x1a\n"
FORMAT_VERSION = (2, 0)  # 2.0: varints in frame chunks, per-slice scale shifts in PFRM (spec II.3, II.6)
READABLE_MAJORS = (1, 2)
CHUNK_HEAD = b"VHED"
CHUNK_END = b"VEND"

MAX_DIM = 8192  # a frame is coded as one latent: bounds one frame's decoder memory
MAX_PIXELS = 2**26  # 8192 x 8192
MAX_FRAMES = 2**24  # 155 hours at 30 frames/s
MAX_GOP = 65535
MAX_FPS_TERM = 2**20  # numerator and denominator of the frame rate (1001-based NTSC rates fit easily)
MAX_FPS = 1000
COLOR_RGB8 = 0

_CHUNK_HEADER = struct.Struct(">4sI")
_U32 = struct.Struct(">I")
# after the model names: width, height, color, depth, quality, slices, fps num/den, frames, gop, flags
_HEAD_TAIL = struct.Struct(">IIBBBBIIIHH")
_FROZEN_PREFIX = len(MAGIC) + _CHUNK_HEADER.size + 2

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "MAX_SCALE_SHIFT",
    "CHUNK_HEAD",
    "CHUNK_INTRA",
    "CHUNK_INTER",
    "CHUNK_END",
    "MAX_DIM",
    "MAX_PIXELS",
    "MAX_FRAMES",
    "MAX_GOP",
    "VideoHeader",
    "Frame",
    "VideoWriter",
    "head_payload",
    "frame_payload",
    "iter_chunks",
    "read",
    "read_header",
    "is_video",
]


# ---------------------------------------------------------------------------------------------------
# Header and frames
# ---------------------------------------------------------------------------------------------------


def _name_problem(what: str, name: str, optional: bool) -> str | None:
    if optional and name == "":
        return None
    if not 1 <= len(name) <= MAX_MODEL_NAME or not _MODEL_NAME.fullmatch(name):
        return f"{what} name {name!r} is not 1..{MAX_MODEL_NAME} characters of [a-z0-9._-]"
    return None


def _field_problem(h: VideoHeader) -> tuple[bool, str] | None:
    """First rule of the VHED section that ``h`` breaks, as ``(is_limit, message)``, else ``None``.

    Shared by the writer (``ValueError``) and the reader (``LimitExceeded`` / ``Corrupt``).
    """
    for problem in (
        _name_problem("model", h.model, optional=False),
        _name_problem("inter model", h.inter_model, optional=True),
    ):
        if problem:
            return False, problem
    for what, value, empty_ok in (
        ("weights hash", h.weights_hash, False),
        ("inter weights hash", h.inter_hash, h.inter_model == ""),
    ):
        if len(value) != (0 if empty_ok else WEIGHTS_HASH_SIZE):
            return False, f"{what} has {len(value)} bytes"
    for name, value in (("width", h.width), ("height", h.height)):
        if value < 1:
            return False, f"{name} {value} is not positive"
        if value > MAX_DIM:
            return True, f"{name} {value} exceeds the limit of {MAX_DIM}"
    if h.width * h.height > MAX_PIXELS:
        return True, f"frame {h.width}x{h.height} has more than {MAX_PIXELS} pixels"
    if h.color != COLOR_RGB8 or h.bit_depth != 8:
        return False, f"color format {h.color} / bit depth {h.bit_depth} (1.0 knows only RGB, 8 bits)"
    if not 0 <= h.quality <= 100:
        return False, f"quality {h.quality} is outside 0..100"
    if not 1 <= h.num_slices <= MAX_SLICES:
        return False, f"number of slices {h.num_slices} is outside 1..{MAX_SLICES}"
    if not (1 <= h.fps_num <= MAX_FPS_TERM and 1 <= h.fps_den <= MAX_FPS_TERM):
        return False, f"frame rate {h.fps_num}/{h.fps_den} has a term outside 1..{MAX_FPS_TERM}"
    if h.fps_num > MAX_FPS * h.fps_den:
        return False, f"frame rate {h.fps_num}/{h.fps_den} is above {MAX_FPS} frames/s"
    if h.frame_count > MAX_FRAMES:
        return True, f"{h.frame_count} frames exceed the limit of {MAX_FRAMES}"
    if not 1 <= h.gop <= MAX_GOP:
        return False, f"GOP {h.gop} is outside 1..{MAX_GOP}"
    if not 0 <= h.flags <= 0xFFFF:
        return False, f"flags {h.flags} do not fit 16 bits"
    return None


@dataclass(frozen=True)
class VideoHeader:
    """What the VHED chunk says: which models coded the clip, its size, frame rate and GOP.

    Args:
        model: registry name of the image codec whose latent codec and transforms code intra frames
            (and whose transforms and latent codec every inter scheme builds on).
        weights_hash: first 8 bytes of the SHA-256 of its weights file.
        width, height: frame size in pixels.
        quality: the 0..100 quality every frame was coded at.
        num_slices: latent slices of the image codec: every frame chunk holds ``1 + num_slices`` strings.
        fps_num, fps_den: the frame rate as the exact rational ``fps_num / fps_den`` (30000/1001 for
            NTSC's 29.97: a float would drift over a long clip).
        frame_count: number of frames; 0 when the writer could not know it up front (a stream that
            cannot seek): ``VEND`` always carries it.
        gop: intra period; every frame with ``index % gop == 0`` is intra (random access points).
        inter_model: registry name of the contextual inter-frame model, or ``""`` for the training-free
            temporal-mean scheme (spec section II.6).
        inter_hash: first 8 bytes of the inter model's weights hash, ``b""`` with no inter model.
        flags: 16 reserved bits; writers write 0, readers ignore them.
        version: (major, minor): 2.0 is written; 1.0 files (inter frames without scale shifts) are read.
    """

    model: str
    weights_hash: bytes
    width: int
    height: int
    quality: int
    num_slices: int
    fps_num: int
    fps_den: int
    gop: int
    frame_count: int = 0
    inter_model: str = ""
    inter_hash: bytes = b""
    color: int = COLOR_RGB8
    bit_depth: int = 8
    flags: int = 0
    version: tuple[int, int] = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name in ("model", "inter_model"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str")
        for name in ("weights_hash", "inter_hash"):
            object.__setattr__(self, name, bytes(getattr(self, name)))
        ints = ("width", "height", "quality", "num_slices", "fps_num", "fps_den", "gop", "frame_count")
        for name in (*ints, "color", "bit_depth", "flags"):
            object.__setattr__(self, name, operator.index(getattr(self, name)))
        major, minor = (operator.index(v) for v in self.version)
        if major not in READABLE_MAJORS or not 0 <= minor <= 255:
            raise ValueError(f"video version {self.version} is not 1.x or 2.x")
        object.__setattr__(self, "version", (major, minor))
        problem = _field_problem(self)
        if problem is not None:
            raise ValueError(problem[1])

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    def is_key(self, index: int) -> bool:
        """Whether frame ``index`` MUST be intra (a random access point)."""
        return index % self.gop == 0


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def head_payload(h: VideoHeader) -> bytes:
    """The VHED payload of ``h`` (the 1.0 fields, which 2.0 keeps)."""
    name, inter = h.model.encode("ascii"), h.inter_model.encode("ascii")
    return b"".join(
        (
            bytes((h.version[0], h.version[1], len(name))),
            name,
            h.weights_hash,
            bytes((len(inter),)),
            inter,
            h.inter_hash,
            _HEAD_TAIL.pack(
                h.width, h.height, h.color, h.bit_depth, h.quality, h.num_slices,
                h.fps_num, h.fps_den, h.frame_count, h.gop, h.flags,
            ),
        )
    )  # fmt: skip


class VideoWriter:
    """Writes a clip frame by frame to a binary stream; :meth:`close` ends it with ``VEND``.

    >>> w = VideoWriter(stream, header)      # magic and VHED now
    >>> w.write(Frame(0, "intra", strings))  # one chunk per frame, nothing kept
    >>> w.close()                            # VEND; VHED's frame count patched when ``stream`` seeks

    Raises:
        ValueError: frames out of order, a non-intra key frame, a wrong number of strings, or more
            frames than the header or the format allows (errors of the caller, not of data).
    """

    def __init__(self, stream: BinaryIO, header: VideoHeader):
        if header.version not in ((1, 0), FORMAT_VERSION):  # 1.0 for tests of the files it wrote
            raise ValueError(f"this writer writes versions 1.0 and 2.0, header says {header.version}")
        self.stream, self.header, self.frames = stream, header, 0
        try:
            self._start = stream.tell() if stream.seekable() else None
        except (OSError, AttributeError):
            self._start = None
        stream.write(MAGIC + pack_chunk(CHUNK_HEAD, head_payload(header)))

    def write(self, frame: Frame) -> None:
        h = self.header
        if frame.index != self.frames:
            raise ValueError(f"frame {frame.index} written as frame {self.frames}")
        if h.is_key(frame.index) and frame.kind != "intra":
            raise ValueError(f"frame {frame.index} starts a GOP of {h.gop} and must be intra")
        if len(frame.strings) != 1 + h.num_slices:
            raise ValueError(f"frame {frame.index} has {len(frame.strings)} strings, not {1 + h.num_slices}")
        if self.frames >= (h.frame_count or MAX_FRAMES):
            raise ValueError(f"more than {h.frame_count or MAX_FRAMES} frames")
        shifts = None
        if frame.kind == "inter" and h.version[0] >= 2:
            shifts = frame.scale_shift or (0,) * h.num_slices
            if len(shifts) != h.num_slices:
                raise ValueError(f"frame {frame.index} has {len(shifts)} scale shifts, not {h.num_slices}")
        elif any(frame.scale_shift):
            raise ValueError(f"frame {frame.index}: scale shifts need an inter frame of version 2.x")
        ctype = CHUNK_INTRA if frame.kind == "intra" else CHUNK_INTER
        payload = frame_payload(frame.index, frame.strings, shifts, h.version[0])
        self.stream.write(pack_chunk(ctype, payload))
        self.frames += 1

    def close(self) -> VideoHeader:
        """Write ``VEND``; returns the header with the real frame count (patched in when possible)."""
        h = self.header
        if self.frames == 0:
            raise ValueError("a clip has at least one frame")
        if h.frame_count and self.frames != h.frame_count:
            raise ValueError(f"header declares {h.frame_count} frames, {self.frames} were written")
        self.stream.write(pack_chunk(CHUNK_END, _U32.pack(self.frames)))
        final = VideoHeader(**{**h.__dict__, "frame_count": self.frames})
        if self._start is not None and not h.frame_count:
            end = self.stream.tell()
            self.stream.seek(self._start + len(MAGIC))
            self.stream.write(pack_chunk(CHUNK_HEAD, head_payload(final)))  # same length: fixed fields
            self.stream.seek(end)
        self.header = final
        return final


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def is_video(data: Buffer) -> bool:
    """Whether ``data`` starts like a ``.dicv`` file (the 8-byte magic)."""
    return bytes(memoryview(data)[: len(MAGIC)]) == MAGIC


_READ_PIECE = 2**20


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    """``n`` bytes, read in pieces: a length near the limit costs memory only as far as data exists."""
    parts, got = [], 0
    while got < n:
        piece = stream.read(min(_READ_PIECE, n - got))
        if not piece:
            raise Truncated(f"video bitstream truncated: {what} needs {n} bytes, {got} left")
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _check_magic(head: bytes) -> None:
    if not head:
        raise BadMagic("not a dicodec video: the input is empty")
    if head == MAGIC:
        return
    if MAGIC.startswith(head):
        raise Truncated(f"video bitstream truncated: {len(head)} bytes, shorter than the 8-byte magic")
    hint = " (a dicodec image: decode it as one)" if head == b"\x89DIC\r\n\x1a\n" else ""
    raise BadMagic(f"not a dicodec video: starts with {head!r}{hint}")


def _label(ctype: bytes, frames: int) -> str:
    if ctype in FRAME_CHUNKS:
        return f"{ctype.decode()} chunk of frame {frames}"
    return f"chunk {ctype.decode('ascii')!r}" if _CHUNK_TYPE.fullmatch(ctype) else f"chunk {ctype!r}"


def _read_chunk(stream: BinaryIO, pos: int, frames: int) -> tuple[bytes, bytes, int]:
    """Read and check the chunk at ``pos``: ``(type, payload, end offset)``; ``b""`` type at end of data."""
    raw = stream.read(_CHUNK_HEADER.size)
    if not raw:
        return b"", b"", pos
    if len(raw) < _CHUNK_HEADER.size:
        raise Truncated(f"video bitstream truncated: chunk header at offset {pos} needs 8 bytes")
    ctype, length = _CHUNK_HEADER.unpack(raw)
    label = check_chunk_header(ctype, length, pos, lambda t: _label(t, frames), CHUNK_HEAD, "video bitstream")
    body = _read_exact(stream, length + _U32.size, f"{label} at offset {pos}")
    payload, (crc,) = body[:length], _U32.unpack(body[length:])
    if zlib.crc32(payload, zlib.crc32(ctype)) != crc:
        raise Corrupt(f"corrupt video bitstream: CRC mismatch in {label} at offset {pos}")
    return ctype, payload, pos + _CHUNK_HEADER.size + length + _U32.size


def _parse_head(p: bytes) -> VideoHeader:
    def need(n: int) -> None:
        if len(p) < n:
            raise Corrupt(f"corrupt video bitstream: VHED payload of {len(p)} bytes, its fields need {n}")

    need(3)
    major, minor, name_len = p[0], p[1], p[2]
    if not 1 <= name_len <= MAX_MODEL_NAME:
        raise Corrupt(f"corrupt video bitstream: model name length {name_len} is outside 1..{MAX_MODEL_NAME}")
    pos = 3 + name_len + WEIGHTS_HASH_SIZE
    need(pos + 1)
    inter_len = p[pos]
    if inter_len > MAX_MODEL_NAME:
        raise Corrupt(f"corrupt video bitstream: inter model name length {inter_len} over {MAX_MODEL_NAME}")
    inter_end = pos + 1 + inter_len + (WEIGHTS_HASH_SIZE if inter_len else 0)
    need(inter_end + _HEAD_TAIL.size)
    try:
        model = p[3 : 3 + name_len].decode("ascii")
        inter = p[pos + 1 : pos + 1 + inter_len].decode("ascii")
    except UnicodeDecodeError:
        raise Corrupt("corrupt video bitstream: a model name is not ASCII") from None
    w, h, color, depth, quality, slices, num, den, count, gop, flags = _HEAD_TAIL.unpack_from(p, inter_end)
    fields = dict(
        model=model, weights_hash=p[3 + name_len : pos], inter_model=inter,
        inter_hash=p[pos + 1 + inter_len : inter_end], width=w, height=h, color=color, bit_depth=depth,
        quality=quality, num_slices=slices, fps_num=num, fps_den=den, frame_count=count, gop=gop, flags=flags,
    )  # fmt: skip
    probe = object.__new__(VideoHeader)  # the checks read attributes only
    for key, value in fields.items():
        object.__setattr__(probe, key, value)
    problem = _field_problem(probe)
    if problem is not None:
        if problem[0]:
            raise LimitExceeded(f"video bitstream limit exceeded: {problem[1]}")
        raise Corrupt(f"corrupt video bitstream: {problem[1]}")
    return VideoHeader(**fields, version=(major, minor))


def _read_head(stream: BinaryIO) -> tuple[VideoHeader, int]:
    _check_magic(stream.read(len(MAGIC)))
    pos = len(MAGIC)
    prefix = stream.read(_FROZEN_PREFIX - pos)
    if len(prefix) >= 4 and prefix[:4] != CHUNK_HEAD:
        raise Corrupt(f"corrupt video bitstream: first chunk is {prefix[:4]!r}, must be b'VHED'")
    if len(prefix) < _FROZEN_PREFIX - pos:
        raise Truncated(f"video bitstream truncated: {pos + len(prefix)} bytes, magic and VHED need more")
    (length,) = _U32.unpack_from(prefix, 4)
    major, minor = prefix[8], prefix[9]
    if length >= 2 and major not in READABLE_MAJORS:  # before the CRC: a future major may change the rest
        raise UnsupportedVersion(
            f"video format version {major}.{minor} is not supported (this reader reads 1.x and 2.x)"
        )
    stream = _Prepend(prefix, stream)
    ctype, payload, end = _read_chunk(stream, pos, 0)  # type: ignore[arg-type]
    return _parse_head(payload), end


class _Prepend:
    """A stream whose first bytes were already read: ``read`` serves them again first."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def read(self, n: int) -> bytes:
        out, self.head = self.head[:n], self.head[n:]
        return out + (self.stream.read(n - len(out)) if n > len(out) else b"")


def _as_stream(source: Buffer | BinaryIO) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))  # type: ignore[arg-type]
    if not hasattr(source, "read"):
        raise TypeError(f"expected bytes or a binary stream, got {type(source).__name__}")
    return source  # type: ignore[return-value]


def read_header(source: Buffer | BinaryIO) -> VideoHeader:
    """Read and check only the magic and ``VHED`` (``dicodec info``); nothing after them is read."""
    return _read_head(_as_stream(source))[0]


def iter_chunks(source: Buffer | BinaryIO) -> tuple[VideoHeader, Iterator[Frame]]:
    """The header, and an iterator over the frames read one chunk at a time (streaming).

    The iterator checks every rule of spec part II as it goes: frame order and types, the count in
    ``VEND`` (and in ``VHED`` when not 0), trailing data. A damaged frame raises when it is reached,
    after the frames before it were yielded: a caller that must not produce partial output collects
    the decoded frames somewhere temporary until the iterator is exhausted.

    Raises:
        BadMagic, UnsupportedVersion, Truncated, Corrupt, LimitExceeded (all ``BitstreamError``).
    """
    stream = _as_stream(source)
    header, pos = _read_head(stream)
    return header, _frames(stream, header, pos)


def _frames(stream: BinaryIO, header: VideoHeader, pos: int) -> Iterator[Frame]:
    count = 0
    while True:
        ctype, payload, end = _read_chunk(stream, pos, count)
        if not ctype:
            raise Truncated(f"video bitstream truncated: data ends after {count} frames, no VEND chunk")
        if ctype in FRAME_CHUNKS:
            if count >= (header.frame_count or MAX_FRAMES):
                raise Corrupt(
                    f"corrupt video bitstream: more than the {header.frame_count or MAX_FRAMES} frames"
                )
            if ctype == CHUNK_INTER and header.is_key(count):
                raise Corrupt(f"corrupt video bitstream: frame {count} starts a GOP but is not intra")
            label = _label(ctype, count)
            yield parse_frame(payload, ctype, count, header.num_slices, header.version[0], label)
            count += 1
        elif ctype == CHUNK_END:
            if len(payload) != _U32.size or _U32.unpack(payload)[0] != count:
                raise Corrupt(f"corrupt video bitstream: VEND does not hold the frame count {count}")
            if count == 0 or (header.frame_count and header.frame_count != count):
                raise Corrupt(
                    f"corrupt video bitstream: {count} frames, header declares {header.frame_count}"
                )
            if stream.read(1):
                raise Corrupt(f"corrupt video bitstream: trailing data after VEND at offset {end}")
            return
        elif ctype == CHUNK_HEAD:
            raise Corrupt(f"corrupt video bitstream: second VHED chunk at offset {pos}")
        elif ctype[:1].isupper():
            raise Corrupt(f"corrupt video bitstream: unknown critical chunk {ctype!r} at offset {pos}")
        pos = end  # ancillary chunks: length and CRC checked, skipped


def read(data: Buffer | BinaryIO) -> tuple[VideoHeader, list[Frame]]:
    """Parse and check a whole clip (tests, the fuzzer, small files): the header and every frame."""
    header, frames = iter_chunks(data)
    return header, list(frames)
