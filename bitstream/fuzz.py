"""Mutation fuzzer for bitstream readers (driven by ``scripts/fuzz_bitstream.py`` and the tests).

The contract under test: a reader given *any* bytes either returns or raises a
:class:`dicodec.DicodecError` subclass. Any other exception (``IndexError``, ``struct.error``,
``MemoryError``, an assertion in a round-trip check...) is a bug.

Random bit flips alone mostly die at the first CRC check and never reach the field parsers, so most
mutators here work chunk-aware: they rewrite a field, a length or a whole chunk and then recompute
the CRC, which lets hostile values (huge sizes, zero sizes, wrong counts, lengths past the end) reach
every check behind it. Each case is seeded by ``(seed, case index)`` alone, so a failure reported as
"case i" replays with the same ``--seed`` and no other state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicodec.bitstream.container import (
    CHUNK_END,
    CHUNK_HEAD,
    CHUNK_TILE,
    FORMAT_VERSION,
    MAGIC,
    Header,
    Tile,
    head_payload,
    pack_chunk,
    read,
    read_header,
    write,
)
from dicodec.bitstream.video import MAGIC as VIDEO_MAGIC
from dicodec.errors import DicodecError

Target = Callable[[bytes], object]

# Values at and around every limit of the format, plus the u32 extremes.
_INTERESTING_U32 = (
    0,
    1,
    2,
    3,
    4,
    127,
    128,
    129,
    255,
    256,
    1023,
    1024,
    1025,
    4096,
    65535,
    65536,
    65537,
    2**24,
    2**28 - 1,
    2**28,
    2**28 + 1,
    2**31 - 1,
    2**31,
    2**32 - 2,
    2**32 - 1,
)
_INTERESTING_U16 = (0, 1, 127, 128, 129, 256, 4096, 4224, 8192, 32768, 65535)
_INTERESTING_U8 = (0, 1, 2, 7, 8, 9, 16, 17, 64, 65, 100, 101, 127, 128, 255)
_CHUNK_TYPES = (
    CHUNK_HEAD,
    CHUNK_TILE,
    CHUNK_END,
    b"meta",
    b"xRay",
    b"ZZZZ",
    b"Tile",
    b"HEAd",
    b"\x00\x00\x00\x00",
    b"TIL\xc5",
    b"1234",
)


# ---------------------------------------------------------------------------------------------------
# Seed inputs
# ---------------------------------------------------------------------------------------------------


def _bytes_from(label: str, n: int) -> bytes:
    """Deterministic filler bytes, so the default seeds are identical on every run and machine."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:n]


def _container(header: Header, sizes: Sequence[Sequence[int]]) -> bytes:
    tiles = [
        Tile(z=_bytes_from(f"z{i}", s[0]), y=tuple(_bytes_from(f"y{i}.{k}", n) for k, n in enumerate(s[1:])))
        for i, s in enumerate(sizes)
    ]
    return write(header, tiles)


def default_seeds() -> list[bytes]:
    """A few small valid containers covering 1 and many tiles, empty strings and forward-compat parts."""
    h = hashlib.sha256(b"fuzz weights").digest()[:8]
    one = _container(Header("tiny.v1", h, 100, 60, 50, 128, 1), [(3, 9)])
    grid = _container(
        Header("grid-2x2.v1", h, 129, 200, 90, 128, 2), [(2, 5, 0), (0, 0, 0), (1, 1, 1), (4, 3, 2)]
    )
    wide = _container(
        Header("wide_a.b-c", h, 600, 100, 0, 256, 3), [(5, 4, 3, 2), (0, 7, 0, 1), (2, 2, 2, 2)]
    )
    # A "version 1.3" file: longer HEAD, an unknown flag bit, ancillary chunks before, between and
    # after the tiles. Readers of 1.0 must accept it.
    future = Header("tiny.v1", h, 200, 100, 75, 128, 2, flags=0x8001, version=(1, 3))
    parts = [MAGIC, pack_chunk(CHUNK_HEAD, head_payload(future) + b"\x00\x07future")]
    parts.append(pack_chunk(b"meta", b"title=fuzz"))
    for i in range(future.num_tiles):
        z, y0, y1 = _bytes_from(f"fz{i}", 3), _bytes_from(f"fy{i}", 4), b""
        payload = (
            struct.pack(">II", i, len(z)) + z + struct.pack(">I", len(y0)) + y0 + struct.pack(">I", 0) + y1
        )
        parts.append(pack_chunk(CHUNK_TILE, payload))
        parts.append(pack_chunk(b"iccp", b""))
    parts.append(pack_chunk(CHUNK_END, b""))
    return [one, grid, wide, b"".join(parts)]


# ---------------------------------------------------------------------------------------------------
# Mutators
# ---------------------------------------------------------------------------------------------------


def _split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(prefix, well-formed-looking chunks, rest): lenient, for mutation only (no CRC checks)."""
    if data[: len(MAGIC)] not in (MAGIC, VIDEO_MAGIC):
        return data, [], b""
    pos, chunks = len(MAGIC), []
    while len(data) - pos >= 12:
        (length,) = struct.unpack_from(">I", data, pos + 4)
        end = pos + 12 + length
        if end > len(data):
            break
        chunks.append(data[pos:end])
        pos = end
    return data[: len(MAGIC)], chunks, data[pos:]


def _rechunk(ctype: bytes, payload: bytes) -> bytes:
    """Like pack_chunk, but for any 4 bytes and any payload (hostile types must be expressible)."""
    return (
        struct.pack(">4sI", ctype, len(payload))
        + payload
        + struct.pack(">I", zlib.crc32(payload, zlib.crc32(ctype)))
    )


def _pick_chunk(data: bytes, rng: random.Random) -> tuple[bytes, list[bytes], bytes, int] | None:
    prefix, chunks, rest = _split(data)
    if not chunks:
        return None
    return prefix, chunks, rest, rng.randrange(len(chunks))


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _bit_flips(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _overwrite(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(rng.choice((1, 2, 4))):
        buf[rng.randrange(len(buf))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(buf)


def _mutate_payload_fix_crc(data: bytes, rng: random.Random) -> bytes:
    """Flip or overwrite payload bytes of one chunk, or drop a u32 into it, then repair the CRC."""
    picked = _pick_chunk(data, rng)
    if picked is None:
        return _bit_flips(data, rng)
    prefix, chunks, rest, i = picked
    ctype, payload = chunks[i][:4], bytearray(chunks[i][8:-4])
    if payload:
        at = rng.randrange(len(payload))
        how = rng.randrange(3)
        if how == 0:
            payload[at] ^= 1 << rng.randrange(8)
        elif how == 1:
            payload[at] = rng.choice(_INTERESTING_U8)
        else:
            payload[at : at + 4] = struct.pack(">I", rng.choice(_INTERESTING_U32))
    else:
        payload += _bytes_from(str(rng.random()), rng.randrange(1, 9))
    chunks[i] = _rechunk(ctype, bytes(payload))
    return prefix + b"".join(chunks) + rest


def _set_length(data: bytes, rng: random.Random) -> bytes:
    """A chunk length field pointing past the end, past a limit, or just off by a little."""
    picked = _pick_chunk(data, rng)
    if picked is None:
        return _overwrite(data, rng)
    prefix, chunks, rest, i = picked
    real = len(chunks[i]) - 12
    value = rng.choice((*_INTERESTING_U32, real + 1, max(real - 1, 0), real + 4, real + 100))
    chunks[i] = chunks[i][:4] + struct.pack(">I", value & 0xFFFFFFFF) + chunks[i][8:]
    return prefix + b"".join(chunks) + rest


def _insert_chunk(data: bytes, rng: random.Random) -> bytes:
    prefix, chunks, rest = _split(data)
    ctype = rng.choice(_CHUNK_TYPES)
    if chunks and rng.random() < 0.5:
        payload = rng.choice(chunks)[8:-4]
    else:
        payload = _bytes_from(str(rng.random()), rng.choice((0, 1, 4, 13, 40)))
    chunks.insert(rng.randrange(len(chunks) + 1), _rechunk(ctype, payload))
    return prefix + b"".join(chunks) + rest


def _delete_chunk(data: bytes, rng: random.Random) -> bytes:
    picked = _pick_chunk(data, rng)
    if picked is None:
        return _truncate(data, rng)
    prefix, chunks, rest, i = picked
    del chunks[i]
    return prefix + b"".join(chunks) + rest


def _duplicate_or_swap(data: bytes, rng: random.Random) -> bytes:
    picked = _pick_chunk(data, rng)
    if picked is None:
        return _overwrite(data, rng)
    prefix, chunks, rest, i = picked
    j = rng.randrange(len(chunks))
    if rng.random() < 0.5:
        chunks.insert(j, chunks[i])
    else:
        chunks[i], chunks[j] = chunks[j], chunks[i]
    return prefix + b"".join(chunks) + rest


# HEAD 1.0 fields after the name: (offset from the end of the name, struct format, candidate values)
_HEAD_FIELDS = (
    (8, ">I", _INTERESTING_U32),  # width
    (12, ">I", _INTERESTING_U32),  # height
    (16, ">B", _INTERESTING_U8),  # color
    (17, ">B", _INTERESTING_U8),  # bit depth
    (18, ">B", _INTERESTING_U8),  # quality
    (19, ">H", _INTERESTING_U16),  # tile size
    (21, ">H", _INTERESTING_U16),  # flags
    (23, ">B", _INTERESTING_U8),  # slices
)


def _hostile_head(data: bytes, rng: random.Random) -> bytes:
    """Rewrite HEAD fields with values at or past their limits, keep the CRC valid."""
    prefix, chunks, rest = _split(data)
    if not chunks or chunks[0][:4] != CHUNK_HEAD:
        return _overwrite(data, rng)
    payload = bytearray(chunks[0][8:-4])
    how = rng.randrange(6)
    if how == 0 and len(payload) >= 2:  # version
        payload[rng.randrange(2)] = rng.choice(_INTERESTING_U8)
    elif how == 1 and len(payload) >= 3:  # name length, name bytes
        if rng.random() < 0.5 or len(payload) == 3:
            payload[2] = rng.choice(_INTERESTING_U8)
        else:
            payload[3 + rng.randrange(max(1, min(payload[2], len(payload) - 3)))] = rng.choice(
                b"A.-_/\x00\xff a9"
            )
    elif how == 2:  # longer or shorter HEAD
        if rng.random() < 0.5:
            payload += _bytes_from(str(rng.random()), rng.choice((1, 5, 100, 1100)))
        else:
            del payload[rng.randrange(len(payload) + 1) :]
    elif len(payload) >= 3:  # one or two of the numeric fields
        base = 3 + payload[2]
        for _ in range(rng.choice((1, 1, 2))):
            offset, fmt, values = rng.choice(_HEAD_FIELDS)
            if base + offset + struct.calcsize(fmt) <= len(payload):
                struct.pack_into(fmt, payload, base + offset, rng.choice(values))
    chunks[0] = _rechunk(CHUNK_HEAD, bytes(payload))
    return prefix + b"".join(chunks) + rest


def _hostile_tile(data: bytes, rng: random.Random) -> bytes:
    """Rewrite a TILE's index or one of its string lengths, keep the CRC valid."""
    prefix, chunks, rest = _split(data)
    tiles = [i for i, c in enumerate(chunks) if c[:4] == CHUNK_TILE]
    if not tiles:
        return _insert_chunk(data, rng)
    i = rng.choice(tiles)
    payload = bytearray(chunks[i][8:-4])
    offsets, pos = [0], 4  # where the index and each u32 length sit
    while pos + 4 <= len(payload):
        offsets.append(pos)
        pos += 4 + struct.unpack_from(">I", payload, pos)[0]
    at = rng.choice(offsets)
    if at + 4 <= len(payload):
        struct.pack_into(">I", payload, at, rng.choice(_INTERESTING_U32))
    else:
        payload += b"\x00"
    chunks[i] = _rechunk(CHUNK_TILE, bytes(payload))
    return prefix + b"".join(chunks) + rest


def _trailing(data: bytes, rng: random.Random) -> bytes:
    return data + _bytes_from(str(rng.random()), rng.choice((1, 4, 12, 40)))


def _splice(data: bytes, rng: random.Random) -> bytes:
    cut = rng.randrange(len(data) + 1)
    return data[:cut] + data[rng.randrange(len(data) + 1) :]


def _random_bytes(data: bytes, rng: random.Random) -> bytes:
    n = rng.choice((0, 1, 7, 8, 9, 17, 18, 40, 200))
    noise = _bytes_from(str(rng.random()), n)
    return rng.choice((noise, MAGIC + noise, MAGIC[: rng.randrange(9)], b"", MAGIC + b"HEAD" + noise))


MUTATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    _truncate,
    _bit_flips,
    _overwrite,
    _mutate_payload_fix_crc,
    _mutate_payload_fix_crc,
    _set_length,
    _insert_chunk,
    _delete_chunk,
    _duplicate_or_swap,
    _hostile_head,
    _hostile_head,
    _hostile_tile,
    _hostile_tile,
    _trailing,
    _splice,
    _random_bytes,
)


Mutator = Callable[[bytes, random.Random], bytes]


def make_case(
    seed: int, index: int, seeds_data: Sequence[bytes], mutators: Sequence[Mutator] | None = None
) -> bytes:
    """The input of case ``index`` under ``seed``: one seed file through one to three mutators
    (``mutators``: :data:`MUTATORS` by default; the video fuzzer passes its own)."""
    rng = random.Random(f"{seed}:{index}")
    data = bytes(rng.choice(seeds_data))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = rng.choice(mutators or MUTATORS)(data, rng)
    return data


# ---------------------------------------------------------------------------------------------------
# Targets and driver
# ---------------------------------------------------------------------------------------------------


def check_round_trip(
    data: bytes,
    read_fn: Callable[[bytes], tuple[Any, Any]],
    read_header_fn: Callable[[bytes], Any],
    rewrite: Callable[[Any, Any], tuple[tuple[Any, Any], bytes]],
) -> None:
    """The invariants of a reader on any input: ``read_header`` agrees with ``read`` on a file ``read``
    accepts, and ``rewrite(header, parts) -> (expected, bytes)`` (what was read, written by the
    current writer) reads back to ``expected``."""
    try:
        header_only = read_header_fn(data)
    except DicodecError:
        header_only = None
    header, parts = read_fn(data)
    if header_only != header:
        raise AssertionError("read_header and read disagree on a file read() accepts")
    expected, written = rewrite(header, parts)
    if read_fn(written) != expected:
        raise AssertionError("what was read, written again, does not read back the same")


def container_target(data: bytes) -> None:
    """``read`` plus invariants: ``read_header`` agrees, and what was read writes and reads back equal."""

    def rewrite(header: Header, tiles: Any) -> tuple[tuple[Header, Any], bytes]:
        current = dataclasses.replace(header, version=FORMAT_VERSION)
        return (current, tiles), write(current, tiles)

    check_round_trip(data, read, read_header, rewrite)


@dataclass
class Failure:
    """One case whose target raised something that is not a DicodecError."""

    index: int
    error: str
    path: Path | None = None


@dataclass
class FuzzResult:
    cases: int
    seconds: float
    failures: list[Failure] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)  # (seconds, case index): flags inputs that make readers crawl


def run_fuzz(
    cases: int,
    seed: int,
    target_fn: Target,
    seeds_data: Sequence[bytes] | None = None,
    *,
    crash_dir: Path | None = None,
    progress_every: int = 0,
    log: Callable[[str], object] = print,
    max_saved: int = 100,
    mutators: Sequence[Mutator] | None = None,
) -> FuzzResult:
    """Run ``cases`` mutated inputs through ``target_fn``; collect every non-DicodecError exception.

    Args:
        cases: number of mutated inputs.
        seed: campaign seed; case ``i`` depends only on ``(seed, i)`` and ``seeds_data``.
        target_fn: called with the bytes; may return anything or raise ``DicodecError``.
        seeds_data: valid files to mutate; ``None`` uses :func:`default_seeds`.
        crash_dir: where failing inputs are saved as ``case-<seed>-<index>.dic`` (at most ``max_saved``).
        progress_every: print a progress line every this many cases (0: never).
        log: where lines go (``print`` for the script, a list's ``append`` in tests).
        mutators: the mutators to draw from (default :data:`MUTATORS`).
    """
    seeds_data = list(seeds_data) if seeds_data is not None else default_seeds()
    if not seeds_data:
        raise ValueError("need at least one seed input")
    result = FuzzResult(cases=cases, seconds=0.0)
    start = time.perf_counter()
    for index in range(cases):
        data = make_case(seed, index, seeds_data, mutators)
        t0 = time.perf_counter()
        try:
            target_fn(data)
        except DicodecError:
            pass
        except Exception as exc:  # noqa: BLE001 - catching everything else is the point of a fuzzer
            failure = Failure(index, f"{type(exc).__name__}: {exc}")
            if crash_dir is not None and len(result.failures) < max_saved:
                crash_dir.mkdir(parents=True, exist_ok=True)
                failure.path = crash_dir / f"case-{seed}-{index}.dic"
                failure.path.write_bytes(data)
            result.failures.append(failure)
            log(
                f"FAIL case {index} (seed {seed}): {failure.error}"
                + (f" -> {failure.path}" if failure.path else "")
            )
        elapsed = time.perf_counter() - t0
        if elapsed > result.slowest[0]:
            result.slowest = (elapsed, index)
        if progress_every and (index + 1) % progress_every == 0:
            log(
                f"{index + 1}/{cases} cases, {len(result.failures)} failures, "
                f"{time.perf_counter() - start:.1f} seconds"
            )
    result.seconds = time.perf_counter() - start
    return result


__all__ = ["MUTATORS", "Failure", "FuzzResult", "container_target", "default_seeds", "make_case", "run_fuzz"]
