"""The payload of a ``.dicv`` frame chunk (``IFRM``, ``PFRM``), in the layouts of versions 1.x and 2.x.

Spec: docs/bitstream.md II.3. 1.x writes the frame index and every string length as u32, like an image
``TILE``. 2.x writes them as varints (unsigned LEB128), because at low rates a frame is a few hundred
bytes and those fixed fields were ~45 of them, and puts an inter frame's per-slice scale shifts (II.6)
after the index, two 4-bit values a byte. :mod:`dicodec.bitstream.video` reads and writes the chunks
around these payloads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from dicodec.bitstream.container import MAX_STRING
from dicodec.errors import Corrupt, LimitExceeded

CHUNK_INTRA = b"IFRM"
CHUNK_INTER = b"PFRM"
FRAME_CHUNKS = {CHUNK_INTRA: "intra", CHUNK_INTER: "inter"}
MAX_SCALE_SHIFT = 15  # a PFRM scale shift: scale-table steps the encoder narrows a slice's scales by
LATEST_MAJOR = 2
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Frame:
    """One frame chunk: its index, ``"intra"`` or ``"inter"``, its ``1 + S`` entropy-coded strings and,
    for a 2.x inter frame, the scale shift of each of the ``S`` slices (``()``: none, i.e. all 0)."""

    index: int
    kind: str
    strings: tuple[bytes, ...]
    scale_shift: tuple[int, ...] = ()


def _varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low bits first, the top bit set on every byte but the last."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pack_shifts(shifts: tuple[int, ...]) -> bytes:
    """Two 4-bit shifts a byte, the first in the high nibble; an odd count leaves a zero low nibble."""
    padded = (*shifts, 0) if len(shifts) % 2 else shifts
    return bytes((a << 4) | b for a, b in zip(padded[::2], padded[1::2], strict=True))


def frame_payload(
    index: int,
    strings: tuple[bytes, ...] | list[bytes],
    scale_shift: tuple[int, ...] | None = None,
    major: int = LATEST_MAJOR,
) -> bytes:
    """A frame chunk's payload (spec II.3). 2.x: the frame index as a varint, an inter frame's scale
    shifts (``scale_shift``, two per byte), then each string as varint length + bytes: at low rates a
    frame is a few hundred bytes, and 1.0's fixed u32 fields were ~45 of them. 1.x: index and lengths
    as u32 (the layout of an image TILE), no shifts."""
    if major < 2:
        if scale_shift:
            raise ValueError(f"frame {index}: scale shifts need version 2.x")
        number: Callable[[int], bytes] = _U32.pack
    else:
        number = _varint
    parts = [number(index)]
    if scale_shift is not None:
        if any(not 0 <= k <= MAX_SCALE_SHIFT for k in scale_shift):
            raise ValueError(f"frame {index}: scale shifts {scale_shift} outside 0..{MAX_SCALE_SHIFT}")
        parts.append(_pack_shifts(tuple(scale_shift)))
    for s in strings:
        if len(s) > MAX_STRING:
            raise ValueError(f"frame {index}: a string of {len(s)} bytes exceeds {MAX_STRING}")
        parts += (number(len(s)), bytes(s))
    return b"".join(parts)


class _Reader:
    """Fields of one frame payload in order; every overrun is Corrupt naming the chunk."""

    def __init__(self, payload: bytes, label: str, major: int):
        self.p, self.pos, self.label, self.major = payload, 0, label, major

    def left(self) -> int:
        return len(self.p) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            left = self.left()
            raise Corrupt(f"corrupt video bitstream: {self.label}: {what} needs {n} bytes, {left} left")
        out, self.pos = self.p[self.pos : self.pos + n], self.pos + n
        return out

    def number(self, what: str) -> int:
        """A u32 (1.x) or a varint of at most 5 bytes, with no redundant zero high byte (2.x)."""
        if self.major < 2:
            return _U32.unpack(self.take(_U32.size, what))[0]
        value = 0
        for k in range(5):
            (byte,) = self.take(1, what)
            value |= (byte & 0x7F) << (7 * k)
            if not byte & 0x80:
                if byte == 0 and k:
                    raise Corrupt(f"corrupt video bitstream: {self.label}: {what} is not minimally coded")
                return value
        raise Corrupt(f"corrupt video bitstream: {self.label}: {what} is longer than 5 bytes")


def parse_frame(payload: bytes, ctype: bytes, index: int, num_slices: int, major: int, label: str) -> Frame:
    """One frame chunk's payload as a :class:`Frame`; ``label`` names the chunk in errors."""
    r = _Reader(payload, label, major)
    try:
        carried: int | None = r.number("the frame index")
    except Corrupt:
        carried = None
    if carried != index:
        raise Corrupt(f"corrupt video bitstream: {label} does not carry frame index {index}")
    shifts: tuple[int, ...] = ()
    if ctype == CHUNK_INTER and major >= 2:
        packed = r.take(-(-num_slices // 2), f"its {num_slices} scale shifts")
        nibbles = [n for b in packed for n in (b >> 4, b & 0x0F)]
        if num_slices % 2 and nibbles[-1]:
            raise Corrupt(f"corrupt video bitstream: {label}: the unused scale-shift nibble is not 0")
        shifts = tuple(nibbles[:num_slices])
    strings = []
    for k in range(1 + num_slices):
        if not r.left():
            raise Corrupt(f"corrupt video bitstream: {label} ends before the length of string {k}")
        length = r.number(f"the length of string {k}")
        if length > MAX_STRING:
            raise LimitExceeded(f"video bitstream limit exceeded: {label}: string {k} claims {length} bytes")
        if length > r.left():
            raise Corrupt(
                f"corrupt video bitstream: {label}: string {k} claims {length} bytes, {r.left()} left"
            )
        strings.append(r.take(length, f"string {k}"))
    if r.left():
        raise Corrupt(f"corrupt video bitstream: {label}: {r.left()} unused bytes after the last string")
    return Frame(index, FRAME_CHUNKS[ctype], tuple(strings), shifts)
