"""Container format of the dicodec bitstream, versions 1.0, 2.0 and 3.0 (spec: ``docs/bitstream.md``).

The container is a PNG-style sequence of checksummed chunks after an 8-byte magic::

    magic | HEAD | TILE x N | DEND        (ancillary chunks may sit between HEAD and DEND)

It carries the entropy-coded strings of every tile but knows nothing about what is inside them;
the codec turns strings into pixels. Keeping the two apart means the parser can be fuzzed on its own
and a damaged file is rejected here, with a typed error, before any model is loaded.

Reading is defensive: every length is checked against a hard limit and against the bytes left
*before* it is used, so a hostile file cannot make the reader allocate or loop in proportion to a
number it made up. Every problem with the data raises a subclass of :class:`dicodec.BitstreamError`
with a one-line message; ``ValueError``/``TypeError`` are reserved for a caller misusing
:func:`write` or :class:`Header`.
"""

from __future__ import annotations

import operator
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dicodec.errors import BadMagic, Corrupt, LimitExceeded, Truncated, UnsupportedVersion

# ---------------------------------------------------------------------------------------------------
# Constants (each mirrors a MUST of docs/bitstream.md)
# ---------------------------------------------------------------------------------------------------

# PNG trick: the high bit catches 7-bit transfers, CR-LF and LF catch line-ending conversion
MAGIC = b"\x89DIC\r\n\x1a\n"
FORMAT_VERSION = (3, 0)  # the newest version this package writes
READABLE_MAJORS = (1, 2, 3)
# Images are edge-padded to a multiple of this many pixels, per major version (spec section 5.1). 1.x pads
# to 128 so every tile holds whole hyper-latents; 2.x pads only to the 32x latent grid and lets the
# hyper-latent grid round up, which stops small images paying for up to 127 rows of padding. 3.x keeps
# the 2.x layout and changes the entropy coder of the strings (spec section 8).
PAD_MULTIPLES = {1: 128, 2: 32, 3: 32}

CHUNK_HEAD = b"HEAD"
CHUNK_TILE = b"TILE"
CHUNK_END = b"DEND"

MAX_CHUNK_PAYLOAD = 2**28  # 256 MiB: far above a 4096x4096 tile at any quality, small enough to refuse fast
MAX_HEAD_PAYLOAD = 1024  # leaves ~950 bytes for fields appended by later minor versions
MAX_STRING = 2**28
MAX_DIM = 65535
MAX_PIXELS = 2**28  # 16384 x 16384; bounds the decoder's output buffer before it allocates it
MAX_TILES = 65536
MAX_SLICES = 16
MAX_MODEL_NAME = 64
TILE_ALIGN = 128  # the analysis transform downsamples 32x and the hyperprior 4x more: 128 divides every tile
MIN_TILE_SIZE = 128
MAX_TILE_SIZE = 4096
WEIGHTS_HASH_SIZE = 8
COLOR_RGB8 = 0
FLAG_GENERATIVE_HINT = 1 << 0  # reserved in 1.0: writers write 0, readers ignore it

_CHUNK_HEADER = struct.Struct(">4sI")
_U32 = struct.Struct(">I")
_HEAD_PREFIX = struct.Struct(">BBB")  # major, minor, model-name length
_HEAD_TAIL = struct.Struct(">8sIIBBBHHB")  # hash, width, height, color, depth, quality, tile, flags, S
_HEAD_FIXED = _HEAD_PREFIX.size + _HEAD_TAIL.size  # 27 bytes besides the model name
_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MODEL_NAME_BYTES = re.compile(rb"[a-z0-9][a-z0-9._-]*")
_CHUNK_TYPE = re.compile(rb"[A-Za-z]{4}")
# magic + HEAD type + length + major + minor: the bytes every future version keeps (spec 2.2)
_FROZEN_PREFIX = len(MAGIC) + _CHUNK_HEADER.size + 2

Buffer = bytes | bytearray | memoryview


# ---------------------------------------------------------------------------------------------------
# Header and tiles
# ---------------------------------------------------------------------------------------------------


def _field_problem(
    *,
    model: str,
    weights_hash: bytes,
    width: int,
    height: int,
    quality: int,
    tile_size: int,
    num_slices: int,
    color: int,
    bit_depth: int,
    flags: int,
) -> tuple[bool, str] | None:
    """First rule of spec section 4 the values break, as ``(is_limit, message)``, else ``None``.

    One function serves both the writer (which raises ``ValueError``) and the reader (which raises
    ``LimitExceeded`` or ``Corrupt``), so the two can never disagree on what a valid header is.
    """
    if not 1 <= len(model) <= MAX_MODEL_NAME or not _MODEL_NAME.fullmatch(model):
        return False, f"model name {model!r} is not 1..{MAX_MODEL_NAME} characters of [a-z0-9._-]"
    if len(weights_hash) != WEIGHTS_HASH_SIZE:
        return False, f"weights hash must be {WEIGHTS_HASH_SIZE} bytes, got {len(weights_hash)}"
    for name, value in (("width", width), ("height", height)):
        if value < 1:
            return False, f"{name} {value} is not positive"
        if value > MAX_DIM:
            return True, f"{name} {value} exceeds the limit of {MAX_DIM}"
    if width * height > MAX_PIXELS:
        return True, f"image {width}x{height} has more than {MAX_PIXELS} pixels"
    if color != COLOR_RGB8:
        return False, f"color format {color} is reserved (1.0 knows only 0 = RGB 8-bit)"
    if bit_depth != 8:
        return False, f"bit depth {bit_depth} is not supported (1.0 requires 8)"
    if not 0 <= quality <= 100:
        return False, f"quality {quality} is outside 0..100"
    if tile_size % TILE_ALIGN or not MIN_TILE_SIZE <= tile_size <= MAX_TILE_SIZE:
        return False, (
            f"tile size {tile_size} is not a multiple of {TILE_ALIGN} in {MIN_TILE_SIZE}..{MAX_TILE_SIZE}"
        )
    if not 0 <= flags <= 0xFFFF:
        return False, f"flags {flags} do not fit 16 bits"
    if not 1 <= num_slices <= MAX_SLICES:
        return False, f"number of slices {num_slices} is outside 1..{MAX_SLICES}"
    tiles = -(-width // tile_size) * -(-height // tile_size)
    if tiles > MAX_TILES:
        return True, f"{tiles} tiles exceed the limit of {MAX_TILES}"
    return None


@dataclass(frozen=True)
class Header:
    """What the HEAD chunk says: which model coded the image, its size, and how it was tiled.

    Args:
        model: registry name of the codec, e.g. ``"dicodec-base.v1"``; the decoder looks it up by
            this string, never by position, so adding models never changes what an old file means.
        weights_hash: first 8 bytes of the SHA-256 of the weights file; the decoder refuses other
            weights instead of silently producing a different image.
        width, height: image size in pixels before padding.
        quality: the 0..100 quality the encoder was asked for (informational for the decoder).
        tile_size: side of a full tile in pixels, a multiple of 128.
        num_slices: latent slices per tile (channel-conditional entropy model), one string each.
        color: 0 = RGB 8-bit, the only format of 1.0 (gray is coded as RGB).
        bit_depth: 8 in 1.0.
        flags: 16 flag bits; readers ignore bits they do not know.
        version: (major, minor) of the file: 1.0, 2.0 or 3.0 when writing (:data:`FORMAT_VERSION` by
            default), any 1.x, 2.x or 3.x when read.

    Raises:
        ValueError: a field is out of range (programming error on the writing side; the reader
            raises typed :class:`dicodec.BitstreamError` subclasses before building a Header).
    """

    model: str
    weights_hash: bytes
    width: int
    height: int
    quality: int
    tile_size: int
    num_slices: int
    color: int = COLOR_RGB8
    bit_depth: int = 8
    flags: int = 0
    version: tuple[int, int] = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise TypeError(f"model must be a str, got {type(self.model).__name__}")
        if not isinstance(self.weights_hash, bytes | bytearray | memoryview):
            raise TypeError(f"weights_hash must be bytes, got {type(self.weights_hash).__name__}")
        object.__setattr__(self, "weights_hash", bytes(self.weights_hash))
        # operator.index accepts numpy integers (shapes, CLI values) but not floats or bools-as-floats
        for name in ("width", "height", "quality", "tile_size", "num_slices", "color", "bit_depth", "flags"):
            object.__setattr__(self, name, operator.index(getattr(self, name)))
        major, minor = (operator.index(v) for v in self.version)
        if major not in READABLE_MAJORS or not 0 <= minor <= 255:
            raise ValueError(f"version {self.version} is not 1.x, 2.x or 3.x")
        object.__setattr__(self, "version", (major, minor))
        problem = _field_problem(
            model=self.model,
            weights_hash=self.weights_hash,
            width=self.width,
            height=self.height,
            quality=self.quality,
            tile_size=self.tile_size,
            num_slices=self.num_slices,
            color=self.color,
            bit_depth=self.bit_depth,
            flags=self.flags,
        )
        if problem is not None:
            raise ValueError(problem[1])

    @property
    def pad_multiple(self) -> int:
        """Pixels the image is padded to a multiple of: 128 in 1.x, 32 in 2.x and 3.x."""
        return PAD_MULTIPLES[self.version[0]]

    @property
    def padded_size(self) -> tuple[int, int]:
        """(height, width) after edge padding to :attr:`pad_multiple`: the size the codec works on."""
        m = self.pad_multiple
        return (-(-self.height // m) * m, -(-self.width // m) * m)

    @property
    def tile_grid(self) -> tuple[int, int]:
        """(rows, cols) of the tile grid; the last row and column may hold smaller tiles."""
        return (-(-self.height // self.tile_size), -(-self.width // self.tile_size))

    @property
    def num_tiles(self) -> int:
        """Number of TILE chunks the file must contain."""
        rows, cols = self.tile_grid
        return rows * cols


def tile_rect(header: Header, index: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of tile ``index`` in the padded image (spec section 5.1).

    Tiles are in raster order; full tiles are ``tile_size`` square, the last row and column are
    cut at the padded size, so every tile side is a multiple of ``header.pad_multiple``.

    Raises:
        IndexError: ``index`` is not in ``0 .. header.num_tiles - 1``.
    """
    if not 0 <= index < header.num_tiles:
        raise IndexError(f"tile index {index} out of range 0..{header.num_tiles - 1}")
    row, col = divmod(index, header.tile_grid[1])
    padded_h, padded_w = header.padded_size
    top, left = row * header.tile_size, col * header.tile_size
    return top, left, min(header.tile_size, padded_h - top), min(header.tile_size, padded_w - left)


def _as_bytes(value: object, what: str) -> bytes:
    # bytes(int) would silently make a zero-filled buffer of that length, so check the type first
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, got {type(value).__name__}")
    return bytes(value)


@dataclass(frozen=True)
class Tile:
    """The entropy-coded strings of one tile: hyperprior ``z``, then one ``y`` string per slice."""

    z: bytes
    y: tuple[bytes, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", _as_bytes(self.z, "Tile.z"))
        if isinstance(self.y, bytes | bytearray | memoryview | str):
            raise TypeError("Tile.y must be a sequence of byte strings, one per slice")
        object.__setattr__(self, "y", tuple(_as_bytes(s, f"Tile.y[{i}]") for i, s in enumerate(self.y)))


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def pack_chunk(ctype: bytes, payload: bytes) -> bytes:
    """One chunk: type, u32 length, payload, CRC-32 over type + payload (spec section 3).

    Public for tests, the fuzzer and future writers of ancillary chunks.
    """
    if not _CHUNK_TYPE.fullmatch(ctype):
        raise ValueError(f"chunk type {ctype!r} is not 4 ASCII letters")
    if len(payload) > MAX_CHUNK_PAYLOAD:
        raise ValueError(f"chunk payload of {len(payload)} bytes exceeds {MAX_CHUNK_PAYLOAD}")
    crc = zlib.crc32(payload, zlib.crc32(ctype))
    return _CHUNK_HEADER.pack(ctype, len(payload)) + bytes(payload) + _U32.pack(crc)


def head_payload(header: Header) -> bytes:
    """The HEAD payload of ``header``: exactly the 27 + len(model) bytes of the 1.0 fields."""
    name = header.model.encode("ascii")
    return (
        _HEAD_PREFIX.pack(header.version[0], header.version[1], len(name))
        + name
        + _HEAD_TAIL.pack(
            header.weights_hash,
            header.width,
            header.height,
            header.color,
            header.bit_depth,
            header.quality,
            header.tile_size,
            header.flags,
            header.num_slices,
        )
    )


def _tile_payload(index: int, tile: Tile) -> bytes:
    parts = [_U32.pack(index)]
    for s in (tile.z, *tile.y):
        if len(s) > MAX_STRING:
            raise ValueError(f"tile {index}: a string of {len(s)} bytes exceeds {MAX_STRING}")
        parts += (_U32.pack(len(s)), s)
    return b"".join(parts)


def write(header: Header, tiles: Sequence[Tile]) -> bytes:
    """Serialize a header and its tiles (in raster order) to a complete bitstream of ``header.version``.

    The output is a pure function of the arguments, so the same image and model give the same bytes.

    Raises:
        ValueError: wrong number of tiles or slices, ``header.version`` other than 1.0, 2.0 or 3.0, or a tile
            too large for one chunk.
    """
    if header.version[1] != 0:
        raise ValueError(f"this writer writes versions 1.0, 2.0 and 3.0, header says {header.version}")
    if len(tiles) != header.num_tiles:
        raise ValueError(f"header needs {header.num_tiles} tiles, got {len(tiles)}")
    parts = [MAGIC, pack_chunk(CHUNK_HEAD, head_payload(header))]
    for index, tile in enumerate(tiles):
        if len(tile.y) != header.num_slices:
            raise ValueError(f"tile {index} has {len(tile.y)} slices, header says {header.num_slices}")
        parts.append(pack_chunk(CHUNK_TILE, _tile_payload(index, tile)))
    parts.append(pack_chunk(CHUNK_END, b""))
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def _view(data: Buffer) -> memoryview:
    """A flat byte view without copying (read() may get a large mmap'd file)."""
    return memoryview(data).cast("B")


def _label(ctype: bytes, tiles_seen: int) -> str:
    if ctype == CHUNK_TILE:
        return f"TILE chunk {tiles_seen}"
    if ctype in (CHUNK_HEAD, CHUNK_END):
        return f"{ctype.decode()} chunk"
    return f"chunk {ctype.decode('ascii')!r}"


def check_chunk_header(
    ctype: bytes,
    length: int,
    pos: int,
    label_of: Callable[[bytes], str],
    head_type: bytes = CHUNK_HEAD,
    what: str = "bitstream",
) -> str:
    """Spec section 3's checks of a chunk's type and length, before anything is read for its payload
    (shared with the video container, whose header chunk is ``head_type``); returns its label."""
    if not _CHUNK_TYPE.fullmatch(ctype):
        raise Corrupt(f"corrupt {what}: invalid chunk type {ctype!r} at offset {pos}")
    label = label_of(ctype)
    limit = MAX_HEAD_PAYLOAD if ctype == head_type else MAX_CHUNK_PAYLOAD
    if length > limit:
        raise LimitExceeded(
            f"{what} limit exceeded: {label} at offset {pos} claims {length} payload bytes, limit {limit}"
        )
    return label


def _read_chunk(mv: memoryview, pos: int, tiles_seen: int) -> tuple[bytes, memoryview, int]:
    """Check and return (type, payload view, end offset) of the chunk at ``pos``; copies nothing."""
    left = len(mv) - pos
    if left < _CHUNK_HEADER.size:
        raise Truncated(f"bitstream truncated: chunk header at offset {pos} needs 8 bytes, {left} left")
    ctype, length = _CHUNK_HEADER.unpack_from(mv, pos)
    label = check_chunk_header(ctype, length, pos, lambda t: _label(t, tiles_seen))
    need = _CHUNK_HEADER.size + length + _U32.size
    if need > left:
        raise Truncated(f"bitstream truncated: {label} at offset {pos} needs {need} bytes, {left} left")
    start = pos + _CHUNK_HEADER.size
    payload = mv[start : start + length]
    (crc,) = _U32.unpack_from(mv, start + length)
    if zlib.crc32(payload, zlib.crc32(ctype)) != crc:
        raise Corrupt(f"corrupt bitstream: CRC mismatch in {label} at offset {pos}")
    return ctype, payload, pos + need


def _check_magic(mv: memoryview) -> None:
    if len(mv) == 0:
        raise BadMagic("not a dicodec bitstream: the input is empty")
    head = bytes(mv[: len(MAGIC)])
    if head == MAGIC:
        return
    if MAGIC.startswith(head):
        raise Truncated(f"bitstream truncated: {len(head)} bytes, shorter than the 8-byte magic")
    hint = ""
    if head == b"\x89DCV\r\n\x1a\n":
        hint = " (a dicodec video: decode it with dicodec.decode_video)"
    elif head[:4] == MAGIC[:4]:
        hint = " (damaged magic: line endings converted by a text-mode transfer?)"
    elif head[:4] == bytes([MAGIC[0] & 0x7F]) + MAGIC[1:4]:
        hint = " (high bit stripped by a 7-bit transfer?)"
    raise BadMagic(f"not a dicodec bitstream: starts with {head!r}{hint}")


def _read_head(mv: memoryview) -> tuple[Header, int]:
    """Validate magic and HEAD chunk in the order of spec 2.2; return the header and the end offset."""
    _check_magic(mv)
    pos = len(MAGIC)
    if len(mv) >= pos + 4 and bytes(mv[pos : pos + 4]) != CHUNK_HEAD:
        raise Corrupt(f"corrupt bitstream: first chunk is {bytes(mv[pos : pos + 4])!r}, must be b'HEAD'")
    if len(mv) < _FROZEN_PREFIX:
        raise Truncated(
            f"bitstream truncated: {len(mv)} bytes, the magic and HEAD chunk need at least {_FROZEN_PREFIX}"
        )
    length = _U32.unpack_from(mv, pos + 4)[0]
    major, minor = mv[pos + 8], mv[pos + 9]
    # The major version is checked first, even before the CRC: a future major may change the rest.
    if length >= 2 and major not in READABLE_MAJORS:
        raise UnsupportedVersion(
            f"bitstream format version {major}.{minor} is not supported (this reader reads 1.x, 2.x and 3.x)"
        )
    _, p, end = _read_chunk(mv, pos, 0)
    n = len(p)
    if n < _HEAD_PREFIX.size:
        raise Corrupt(f"corrupt bitstream: HEAD payload of {n} bytes is too short for its first fields")
    name_len = p[2]
    if not 1 <= name_len <= MAX_MODEL_NAME:
        raise Corrupt(f"corrupt bitstream: model name length {name_len} is outside 1..{MAX_MODEL_NAME}")
    if n < _HEAD_FIXED + name_len:
        raise Corrupt(
            f"corrupt bitstream: HEAD payload of {n} bytes, version 1.0 fields need {_HEAD_FIXED + name_len}"
        )
    name = bytes(p[3 : 3 + name_len])
    if not _MODEL_NAME_BYTES.fullmatch(name):
        raise Corrupt(f"corrupt bitstream: model name {name!r} is not [a-z0-9][a-z0-9._-]*")
    whash, width, height, color, depth, quality, tile_size, flags, slices = _HEAD_TAIL.unpack_from(
        p, 3 + name_len
    )
    # Bytes after the 1.0 fields belong to later minor versions and are ignored (spec section 4).
    fields = dict(
        model=name.decode("ascii"),
        weights_hash=whash,
        width=width,
        height=height,
        quality=quality,
        tile_size=tile_size,
        num_slices=slices,
        color=color,
        bit_depth=depth,
        flags=flags,
    )
    problem = _field_problem(**fields)
    if problem is not None:
        is_limit, message = problem
        if is_limit:
            raise LimitExceeded(f"bitstream limit exceeded: {message}")
        raise Corrupt(f"corrupt bitstream: {message}")
    return Header(**fields, version=(major, minor)), end


def _parse_tile(payload: memoryview, index: int, num_slices: int) -> Tile:
    label = f"TILE chunk {index}"
    n = len(payload)
    if n < _U32.size:
        raise Corrupt(f"corrupt bitstream: {label}: payload of {n} bytes has no tile index")
    (got,) = _U32.unpack_from(payload, 0)
    if got != index:
        raise Corrupt(f"corrupt bitstream: {label} carries tile index {got}")
    pos = _U32.size
    strings: list[bytes] = []
    for k in range(1 + num_slices):
        what = "z" if k == 0 else f"y[{k - 1}]"
        if n - pos < _U32.size:
            raise Corrupt(f"corrupt bitstream: {label}: payload ends before the length of {what}")
        (length,) = _U32.unpack_from(payload, pos)
        pos += _U32.size
        if length > MAX_STRING:
            raise LimitExceeded(
                f"bitstream limit exceeded: {label}: {what} claims {length} bytes, limit {MAX_STRING}"
            )
        if length > n - pos:
            raise Corrupt(f"corrupt bitstream: {label}: {what} claims {length} bytes, {n - pos} left")
        strings.append(bytes(payload[pos : pos + length]))
        pos += length
    if pos != n:
        raise Corrupt(f"corrupt bitstream: {label}: {n - pos} unused bytes after the last slice")
    return Tile(z=strings[0], y=tuple(strings[1:]))


def read_header(data: Buffer) -> Header:
    """Read and validate only the magic and HEAD chunk (for ``dicodec info`` and ``inspect``).

    ``data`` may be just the start of a file: nothing after the HEAD chunk is looked at.

    Raises:
        dicodec.BitstreamError: a typed subclass for any problem in the bytes it reads.
    """
    return _read_head(_view(data))[0]


def read(data: Buffer) -> tuple[Header, list[Tile]]:
    """Parse and validate a complete bitstream: limits, CRCs, chunk order, counts, trailing data.

    Nothing is allocated for a length before it has been checked against its limit and against the
    bytes actually present, so hostile input costs at most time linear in its size.

    Raises:
        BadMagic, UnsupportedVersion, Truncated, Corrupt, LimitExceeded: all subclasses of
            :class:`dicodec.BitstreamError`, with a one-line message saying what and where.
    """
    mv = _view(data)
    header, pos = _read_head(mv)
    expected = header.num_tiles
    tiles: list[Tile] = []
    while True:
        if pos == len(mv):
            raise Truncated(
                f"bitstream truncated: data ends after {len(tiles)} of {expected} TILE chunks, no DEND chunk"
            )
        chunk_pos = pos
        ctype, payload, pos = _read_chunk(mv, pos, len(tiles))
        if ctype == CHUNK_TILE:
            if len(tiles) == expected:
                raise Corrupt(f"corrupt bitstream: more than the {expected} TILE chunks the header declares")
            tiles.append(_parse_tile(payload, len(tiles), header.num_slices))
        elif ctype == CHUNK_END:
            if len(payload):
                raise Corrupt(f"corrupt bitstream: DEND chunk at offset {chunk_pos} has a payload")
            if len(tiles) != expected:
                raise Corrupt(f"corrupt bitstream: DEND after {len(tiles)} of {expected} TILE chunks")
            if pos != len(mv):
                raise Corrupt(f"corrupt bitstream: trailing data, {len(mv) - pos} bytes after DEND")
            return header, tiles
        elif ctype == CHUNK_HEAD:
            raise Corrupt(f"corrupt bitstream: second HEAD chunk at offset {chunk_pos}")
        elif ctype[:1].isupper():
            raise Corrupt(f"corrupt bitstream: unknown critical chunk {ctype!r} at offset {chunk_pos}")
        # else: ancillary chunk, length and CRC already checked; skipped (spec section 3)


__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "CHUNK_HEAD",
    "CHUNK_TILE",
    "CHUNK_END",
    "MAX_CHUNK_PAYLOAD",
    "MAX_HEAD_PAYLOAD",
    "MAX_STRING",
    "MAX_DIM",
    "MAX_PIXELS",
    "MAX_TILES",
    "MAX_SLICES",
    "MAX_MODEL_NAME",
    "TILE_ALIGN",
    "MIN_TILE_SIZE",
    "MAX_TILE_SIZE",
    "WEIGHTS_HASH_SIZE",
    "COLOR_RGB8",
    "FLAG_GENERATIVE_HINT",
    "Header",
    "Tile",
    "tile_rect",
    "pack_chunk",
    "head_payload",
    "write",
    "read",
    "read_header",
]
