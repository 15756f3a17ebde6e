"""Mutation fuzzing of the video container reader (``scripts/fuzz_bitstream.py --target video``).

The generic, chunk-aware mutators of :mod:`dicodec.bitstream.fuzz` (truncation, bit flips, CRC-repaired
payload edits, lengths, inserted / deleted / swapped chunks) work on ``.dicv`` files unchanged; this
module adds seeds and the mutators that know the video fields: hostile ``VHED`` values (sizes, frame
rate, frame count, GOP, model names), frame chunks whose index, type or string lengths lie, and ``VEND``
counts. The contract is the image reader's: any bytes either read or raise a ``DicodecError``.
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct
from collections.abc import Callable

from dicodec.bitstream import fuzz
from dicodec.bitstream.video import (
    _HEAD_TAIL,
    CHUNK_END,
    CHUNK_HEAD,
    CHUNK_INTER,
    CHUNK_INTRA,
    Frame,
    VideoHeader,
    VideoWriter,
    read,
    read_header,
)


def write_clip(header: VideoHeader, frames: list[Frame]) -> bytes:
    buf = io.BytesIO()
    writer = VideoWriter(buf, header)
    for f in frames:
        writer.write(f)
    writer.close()
    return buf.getvalue()


def video_seeds() -> list[bytes]:
    """Small valid clips: one frame; GOPs with inter frames (scale shifts in 2.0, none in a 1.0 file); an
    inter model; an unknown frame count."""
    h = bytes(range(8))

    def frames(n: int, gop: int, slices: int, shifted: bool = True) -> list[Frame]:
        def kind(i: int) -> str:
            return "intra" if i % gop == 0 else "inter"

        return [
            Frame(
                i,
                kind(i),
                tuple(fuzz._bytes_from(f"v{i}.{k}", (i * 3 + k) % 7) for k in range(1 + slices)),
                tuple((i + 5 * k) % 16 for k in range(slices)) if shifted and kind(i) == "inter" else (),
            )
            for i in range(n)
        ]

    one = write_clip(VideoHeader("tiny.v1", h, 64, 48, 50, 2, 25, 1, 4), frames(1, 4, 2))
    gop = write_clip(VideoHeader("hp32-v7", h, 130, 70, 90, 5, 30000, 1001, 3), frames(7, 3, 5))
    inter = VideoHeader("tiny.v1", h, 33, 17, 0, 1, 24, 1, 2, inter_model="ctx.v1", inter_hash=h[::-1])
    v1 = VideoHeader("hp32-v7", h, 64, 64, 30, 5, 25, 1, 4, version=(1, 0))
    return [one, gop, write_clip(inter, frames(4, 2, 1)), write_clip(v1, frames(5, 4, 5, shifted=False))]


# VHED fields after the model names: (offset in the tail, struct format, candidate values)
_TAIL_FIELDS = (
    (0, ">I", fuzz._INTERESTING_U32),  # width
    (4, ">I", fuzz._INTERESTING_U32),  # height
    (8, ">B", fuzz._INTERESTING_U8),  # color
    (9, ">B", fuzz._INTERESTING_U8),  # bit depth
    (10, ">B", fuzz._INTERESTING_U8),  # quality
    (11, ">B", fuzz._INTERESTING_U8),  # slices
    (12, ">I", fuzz._INTERESTING_U32),  # fps numerator
    (16, ">I", fuzz._INTERESTING_U32),  # fps denominator
    (20, ">I", fuzz._INTERESTING_U32),  # frame count
    (24, ">H", fuzz._INTERESTING_U16),  # gop
    (26, ">H", fuzz._INTERESTING_U16),  # flags
)


def _hostile_vhed(data: bytes, rng: random.Random) -> bytes:
    """Rewrite VHED fields (version, name lengths, numbers) at or past their limits; CRC kept valid."""
    prefix, chunks, rest = fuzz._split(data)
    if not chunks or chunks[0][:4] != CHUNK_HEAD:
        return fuzz._overwrite(data, rng)
    payload = bytearray(chunks[0][8:-4])
    how = rng.randrange(5)
    if how == 0 and len(payload) >= 3:  # version or model-name length
        payload[rng.randrange(3)] = rng.choice(fuzz._INTERESTING_U8)
    elif how == 1 and len(payload) >= 3 and len(payload) > 3 + payload[2] + 8:  # inter-name length
        payload[3 + payload[2] + 8] = rng.choice(fuzz._INTERESTING_U8)
    elif how == 2:  # longer or shorter
        if rng.random() < 0.5:
            payload += fuzz._bytes_from(str(rng.random()), rng.choice((1, 5, 1100)))
        else:
            del payload[rng.randrange(len(payload) + 1) :]
    else:
        base = len(payload) - _HEAD_TAIL.size
        for _ in range(rng.choice((1, 1, 2))):
            offset, fmt, values = rng.choice(_TAIL_FIELDS)
            if base >= 0 and base + offset + struct.calcsize(fmt) <= len(payload):
                struct.pack_into(fmt, payload, base + offset, rng.choice(values))
    chunks[0] = fuzz._rechunk(CHUNK_HEAD, bytes(payload))
    return prefix + b"".join(chunks) + rest


def _hostile_frame(data: bytes, rng: random.Random) -> bytes:
    """A frame chunk with another type, index or string length, or VEND with another count."""
    prefix, chunks, rest = fuzz._split(data)
    picks = [i for i, c in enumerate(chunks) if c[:4] in (CHUNK_INTRA, CHUNK_INTER, CHUNK_END)]
    if not picks:
        return fuzz._insert_chunk(data, rng)
    i = rng.choice(picks)
    ctype, payload = chunks[i][:4], bytearray(chunks[i][8:-4])
    if ctype != CHUNK_END and rng.random() < 0.3:
        ctype = CHUNK_INTER if ctype == CHUNK_INTRA else CHUNK_INTRA
    else:
        offsets, pos = [0], 4
        while ctype != CHUNK_END and pos + 4 <= len(payload):
            offsets.append(pos)
            pos += 4 + struct.unpack_from(">I", payload, pos)[0]
        at = rng.choice(offsets)
        if at + 4 <= len(payload):
            struct.pack_into(">I", payload, at, rng.choice(fuzz._INTERESTING_U32))
        else:
            payload += b"\x00"
    chunks[i] = fuzz._rechunk(ctype, bytes(payload))
    return prefix + b"".join(chunks) + rest


VIDEO_MUTATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    *fuzz.MUTATORS,
    _hostile_vhed,
    _hostile_vhed,
    _hostile_frame,
    _hostile_frame,
)


def video_target(data: bytes) -> None:
    """``read`` plus invariants: ``read_header`` agrees, and what was read writes and reads back equal."""

    def rewrite(header: VideoHeader, frames: list[Frame]) -> tuple[tuple[VideoHeader, list[Frame]], bytes]:
        # the writer writes x.0 of the file's major (a 1.x file's inter frames carry no scale shifts)
        current = dataclasses.replace(header, version=(header.version[0], 0))
        return (dataclasses.replace(current, frame_count=len(frames)), frames), write_clip(current, frames)

    fuzz.check_round_trip(data, read, read_header, rewrite)


__all__ = ["VIDEO_MUTATORS", "video_seeds", "video_target", "write_clip"]
