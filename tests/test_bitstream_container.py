"""Tests of the container format (docs/bitstream.md): round trips, every error type, the golden file.

Regenerate the golden file only for a new format version, never to make a test pass:
``python tests/test_bitstream_container.py --write-golden``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest

import dicodec
from dicodec.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    Header,
    Tile,
    read,
    read_header,
    tile_rect,
    write,
)
from dicodec.bitstream import container as C
from dicodec.errors import BadMagic, BitstreamError, Corrupt, LimitExceeded, Truncated, UnsupportedVersion

GOLDEN = Path(__file__).parent / "golden" / "container_v1_0.dic"
GOLDEN_SHA256 = "f666db2b40ceb90177ee6e3437b8ae2a9348f08c3524bbdacfae5a7209ecdbd5"
# (len(z), len(y[0]), len(y[1])) per tile, and the sha256 of all strings concatenated in order
GOLDEN_LENGTHS = [(0, 0, 7), (3, 5, 12), (6, 10, 17), (9, 15, 22), (12, 20, 27), (15, 25, 32)]
GOLDEN_CONTENT = "63d6e9dfd3e79544deee0bae40dd2e1aa7fbbb4a974c4324b3ba86c4b0eb0368"

HASH = hashlib.sha256(b"test weights").digest()[:8]


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def make_header(**overrides: object) -> Header:
    """A 1.0 header unless ``version`` says otherwise (most tests here are about the 1.0 layout)."""
    fields: dict[str, object] = dict(
        model="test.v1",
        weights_hash=HASH,
        width=300,
        height=200,
        quality=60,
        tile_size=256,
        num_slices=2,
        version=(1, 0),
    )
    fields.update(overrides)
    return Header(**fields)  # type: ignore[arg-type]


def make_tiles(header: Header) -> list[Tile]:
    return [
        Tile(z=bytes([i]) * (i + 1), y=tuple(bytes([i, k]) * k for k in range(header.num_slices)))
        for i in range(header.num_tiles)
    ]


def small_file() -> bytes:
    header = make_header()
    return write(header, make_tiles(header))


def chunk(ctype: bytes, payload: bytes, crc: int | None = None) -> bytes:
    """Any chunk, including invalid types and wrong CRCs (pack_chunk refuses those)."""
    if crc is None:
        crc = zlib.crc32(payload, zlib.crc32(ctype))
    return struct.pack(">4sI", ctype, len(payload)) + payload + struct.pack(">I", crc)


def raw_head(
    *,
    major: int = 1,
    minor: int = 0,
    name: bytes = b"test.v1",
    name_len: int | None = None,
    weights_hash: bytes = HASH,
    width: int = 300,
    height: int = 200,
    color: int = 0,
    bit_depth: int = 8,
    quality: int = 60,
    tile_size: int = 256,
    flags: int = 0,
    slices: int = 2,
    extra: bytes = b"",
) -> bytes:
    """A HEAD payload with any field values, bypassing Header validation."""
    return (
        struct.pack(">BBB", major, minor, len(name) if name_len is None else name_len)
        + name
        + struct.pack(
            ">8sIIBBBHHB", weights_hash, width, height, color, bit_depth, quality, tile_size, flags, slices
        )
        + extra
    )


def tile_payload(index: int, strings: list[bytes]) -> bytes:
    out = struct.pack(">I", index)
    for s in strings:
        out += struct.pack(">I", len(s)) + s
    return out


def assemble(head: bytes, body: list[bytes] | None = None, *, end: bool = True) -> bytes:
    """Magic + HEAD chunk from a raw payload + body chunks (+ DEND)."""
    return MAGIC + chunk(b"HEAD", head) + b"".join(body or []) + (chunk(b"DEND", b"") if end else b"")


def body_of(data: bytes) -> list[bytes]:
    """The chunks between HEAD and DEND of a well-formed file."""
    pos, out = len(MAGIC), []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos + 4)
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out[1:-1]


def golden_container() -> tuple[Header, list[Tile]]:
    """The content of tests/golden/container_v1_0.dic: 6 tiles (2x3, partial last row and column)."""
    header = Header(
        model="golden-test.v1",
        weights_hash=hashlib.sha256(b"dicodec golden weights v1").digest()[:8],
        width=300,
        height=200,
        quality=60,
        tile_size=128,
        num_slices=2,
        version=(1, 0),
    )
    tiles = []
    for i in range(header.num_tiles):
        z = hashlib.sha256(f"z{i}".encode()).digest()[: 3 * i]
        y = tuple(hashlib.sha256(f"y{i}.{k}".encode()).digest()[: (5 * i + 7 * k) % 33] for k in range(2))
        tiles.append(Tile(z=z, y=y))
    return header, tiles


# ---------------------------------------------------------------------------------------------------
# Header, tiles, geometry
# ---------------------------------------------------------------------------------------------------


class TestHeader:
    def test_grid_and_count(self) -> None:
        h = make_header(width=300, height=200, tile_size=256)
        assert h.padded_size == (256, 384)
        assert h.tile_grid == (1, 2)
        assert h.num_tiles == 2
        assert make_header(width=256, height=256, tile_size=256).num_tiles == 1
        assert make_header(width=1, height=1, tile_size=4096).num_tiles == 1

    def test_tile_rects_cover_padded_image_in_raster_order(self) -> None:
        h = make_header(width=1000, height=300, tile_size=384)
        ph, pw = h.padded_size
        assert (ph, pw) == (384, 1024)
        covered = 0
        rects = [tile_rect(h, i) for i in range(h.num_tiles)]
        assert rects == [
            (0, 0, 384, 384),
            (0, 384, 384, 384),
            (0, 768, 384, 256),
        ]
        for _top, _left, th, tw in rects:
            assert th % 128 == 0 and tw % 128 == 0
            covered += th * tw
        assert covered == ph * pw

    def test_tile_rect_last_row_and_column(self) -> None:
        h = make_header(width=300, height=200, tile_size=128)
        assert h.tile_grid == (2, 3)
        assert tile_rect(h, 5) == (128, 256, 128, 128)
        with pytest.raises(IndexError):
            tile_rect(h, 6)
        with pytest.raises(IndexError):
            tile_rect(h, -1)

    @pytest.mark.parametrize(
        "field,value",
        [
            ("model", ""),
            ("model", "A"),
            ("model", "x" * 65),
            ("model", "-lead"),
            ("model", "mödel"),
            ("weights_hash", b"1234567"),
            ("width", 0),
            ("height", 65536),
            ("quality", 101),
            ("tile_size", 200),
            ("tile_size", 8192),
            ("num_slices", 0),
            ("num_slices", 17),
            ("color", 1),
            ("bit_depth", 16),
            ("flags", 65536),
            ("version", (4, 0)),
            ("version", (0, 1)),
        ],
    )
    def test_invalid_fields_raise_value_error(self, field: str, value: object) -> None:
        with pytest.raises(ValueError):
            make_header(**{field: value})

    def test_pixel_limit(self) -> None:
        make_header(width=16384, height=16384)  # exactly 2**28
        with pytest.raises(ValueError, match="pixels"):
            make_header(width=65535, height=65535)

    def test_integer_likes_are_normalized(self) -> None:
        np = pytest.importorskip("numpy")
        h = make_header(width=np.int64(300), height=np.uint16(200), weights_hash=bytearray(HASH))
        assert type(h.width) is int and type(h.height) is int and type(h.weights_hash) is bytes
        assert h == make_header()
        with pytest.raises(TypeError):
            make_header(width=300.0)

    def test_tile_type_checks(self) -> None:
        assert Tile(z=bytearray(b"a"), y=[memoryview(b"b")]) == Tile(z=b"a", y=(b"b",))
        with pytest.raises(TypeError):
            Tile(z=5, y=())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Tile(z=b"", y=b"abc")  # a bare bytes object is not a list of slices


# ---------------------------------------------------------------------------------------------------
# Writing and round trips
# ---------------------------------------------------------------------------------------------------


class TestRoundTrip:
    def test_round_trip(self) -> None:
        header = make_header()
        tiles = make_tiles(header)
        data = write(header, tiles)
        assert data.startswith(MAGIC)
        assert read(data) == (header, tiles)
        assert read_header(data) == header

    @pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
    def test_buffer_types(self, wrap: type) -> None:
        data = small_file()
        assert read(wrap(data)) == read(data)
        assert read_header(wrap(data)) == read_header(data)

    def test_extremes(self) -> None:
        header = make_header(
            model="a" * 64, width=1, height=1, quality=0, tile_size=4096, num_slices=16, flags=0
        )
        tiles = [Tile(z=b"", y=(b"",) * 16)]
        assert read(write(header, tiles)) == (header, tiles)

    def test_many_tiles(self) -> None:
        header = make_header(width=2000, height=1500, tile_size=128, num_slices=1)
        tiles = make_tiles(header)
        assert len(tiles) == 16 * 12
        assert read(write(header, tiles)) == (header, tiles)

    def test_deterministic(self) -> None:
        assert small_file() == small_file()

    def test_read_header_needs_only_the_head(self) -> None:
        data = small_file()
        head_end = len(MAGIC) + 12 + struct.unpack_from(">I", data, 12)[0]
        assert read_header(data[:head_end]) == make_header()
        with pytest.raises(Truncated):
            read_header(data[: head_end - 1])

    def test_writer_misuse(self) -> None:
        header = make_header()
        tiles = make_tiles(header)
        with pytest.raises(ValueError, match="tiles"):
            write(header, tiles[:-1])
        with pytest.raises(ValueError, match="slices"):
            write(header, [*tiles[:-1], Tile(z=b"", y=(b"",))])
        with pytest.raises(ValueError, match="version"):
            write(dataclasses.replace(header, version=(1, 1)), tiles)


# ---------------------------------------------------------------------------------------------------
# Magic, truncation, checksums
# ---------------------------------------------------------------------------------------------------


class TestMagicAndTruncation:
    def test_empty_is_bad_magic(self) -> None:
        with pytest.raises(BadMagic, match="empty"):
            read(b"")
        with pytest.raises(BadMagic):
            read_header(b"")

    @pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"hello world", b"\x00", b"DIC"])
    def test_other_formats_are_bad_magic(self, data: bytes) -> None:
        with pytest.raises(BadMagic):
            read(data)

    def test_text_mode_mangling_is_diagnosed(self) -> None:
        data = small_file()
        with pytest.raises(BadMagic, match="line endings"):
            read(data.replace(b"\r\n", b"\n", 1))
        with pytest.raises(BadMagic, match="7-bit"):
            read(bytes([data[0] & 0x7F]) + data[1:])

    @pytest.mark.parametrize("n", range(1, len(MAGIC)))
    def test_magic_prefix_is_truncated(self, n: int) -> None:
        with pytest.raises(Truncated):
            read(MAGIC[:n])

    def test_truncated_at_every_offset(self) -> None:
        data = small_file()
        for n in range(1, len(data)):
            with pytest.raises(Truncated) as info:
                read(data[:n])
            assert str(info.value).startswith("bitstream truncated:"), n
            assert "\n" not in str(info.value)

    def test_truncation_message_names_chunk_and_sizes(self) -> None:
        data = small_file()
        with pytest.raises(Truncated, match=r"TILE chunk 1 at offset \d+ needs \d+ bytes, \d+ left"):
            read(data[:-20])
        with pytest.raises(Truncated, match="no DEND"):
            read(data[:-12])

    def test_every_single_bit_flip_is_rejected(self) -> None:
        data = small_file()
        for i in range(len(data)):
            for bit in range(8):
                mutated = bytearray(data)
                mutated[i] ^= 1 << bit
                with pytest.raises(BitstreamError):
                    read(bytes(mutated))

    @pytest.mark.parametrize("which", [0, 1, 2, 3])  # HEAD, TILE 0, TILE 1, DEND
    def test_crc_mismatch(self, which: int) -> None:
        data = bytearray(small_file())
        pos = len(MAGIC)
        for _ in range(which):
            pos += 12 + struct.unpack_from(">I", data, pos + 4)[0]
        length = struct.unpack_from(">I", data, pos + 4)[0]
        data[pos + 8 + length] ^= 0x01  # first CRC byte
        with pytest.raises(Corrupt, match="CRC mismatch"):
            read(bytes(data))


# ---------------------------------------------------------------------------------------------------
# Versions and forward compatibility
# ---------------------------------------------------------------------------------------------------


class TestVersions:
    @pytest.mark.parametrize("major", [0, 4, 255])
    def test_other_major_is_unsupported(self, major: int) -> None:
        data = assemble(raw_head(major=major), body_of(small_file()))
        with pytest.raises(UnsupportedVersion, match=f"{major}.0"):
            read(data)
        with pytest.raises(UnsupportedVersion):
            read_header(data)

    def test_major_checked_before_crc_and_limits(self) -> None:
        # a future major may change everything after byte 17 (spec 2.2)
        data = MAGIC + struct.pack(">4sI", b"HEAD", 5000) + bytes([4, 0]) + b"whatever"
        with pytest.raises(UnsupportedVersion):
            read(data)

    def test_newer_minor_is_accepted(self) -> None:
        body = body_of(small_file())
        header, tiles = read(assemble(raw_head(minor=7), body))
        assert header.version == (1, 7)
        assert dataclasses.replace(header, version=(1, 0)) == make_header()
        assert tiles == make_tiles(make_header())

    @pytest.mark.parametrize("minor", [0, 3])
    def test_longer_head_is_accepted(self, minor: int) -> None:
        extra = bytes(range(256)) * 3  # HEAD payload of 34 + 768 bytes, under the 1024 limit
        header = read_header(assemble(raw_head(minor=minor, extra=extra), body_of(small_file())))
        assert dataclasses.replace(header, version=(1, 0)) == make_header()

    def test_unknown_flags_are_ignored(self) -> None:
        header, _ = read(assemble(raw_head(flags=0xFFFF), body_of(small_file())))
        assert header.flags == 0xFFFF

    def test_head_over_1024_bytes_is_a_limit(self) -> None:
        head = raw_head(extra=b"\0" * (C.MAX_HEAD_PAYLOAD - len(raw_head()) + 1))
        with pytest.raises(LimitExceeded, match="HEAD"):
            read(assemble(head, body_of(small_file())))
        read_header(assemble(head[:-1], []))  # exactly 1024 is fine


class TestVersion2:
    """2.0 keeps every byte of the 1.0 layout and changes one rule: padding to 32 px, not 128."""

    def test_writer_default_is_3_0(self) -> None:
        assert FORMAT_VERSION == (3, 0)
        header = Header(model="test.v1", weights_hash=HASH, width=300, height=200, quality=60, tile_size=256,
                        num_slices=2)  # fmt: skip
        assert header.version == (3, 0) and header.pad_multiple == 32

    @pytest.mark.parametrize("major", [2, 3])
    def test_3_0_keeps_the_2_0_layout(self, major: int) -> None:
        """3.0 changes only the coder of the strings (spec section 8), not one byte of the container."""
        header = make_header(width=300, height=200, tile_size=256, version=(major, 0))
        assert header.padded_size == (224, 320) and header.tile_grid == (1, 2)
        data = write(header, make_tiles(header))
        assert data[len(MAGIC) + 8 : len(MAGIC) + 10] == bytes([major, 0])
        assert read(data) == (header, make_tiles(header))

    def test_geometry_pads_to_32(self) -> None:
        h = make_header(width=300, height=200, tile_size=256, version=(2, 0))
        assert h.padded_size == (224, 320)
        assert h.tile_grid == (1, 2)
        assert [tile_rect(h, i) for i in range(h.num_tiles)] == [(0, 0, 224, 256), (0, 256, 224, 64)]
        assert make_header(width=1, height=1, version=(2, 0)).padded_size == (32, 32)
        assert make_header(version=(1, 0)).padded_size == (256, 384)

    def test_round_trip_keeps_the_version(self) -> None:
        header = make_header(version=(2, 0))
        data = write(header, make_tiles(header))
        assert data[len(MAGIC) + 8 : len(MAGIC) + 10] == bytes([2, 0])
        assert read(data) == (header, make_tiles(header))

    def test_newer_minor_of_2_is_accepted(self) -> None:
        header = read_header(assemble(raw_head(major=2, minor=4), body_of(small_file())))
        assert header.version == (2, 4) and header.pad_multiple == 32

    def test_writer_refuses_minor_versions(self) -> None:
        header = make_header(version=(2, 1))
        with pytest.raises(ValueError, match="1.0, 2.0 and 3.0"):
            write(header, make_tiles(header))


# ---------------------------------------------------------------------------------------------------
# Chunk structure
# ---------------------------------------------------------------------------------------------------


class TestChunks:
    @pytest.mark.parametrize("position", [0, 1, 2])
    def test_ancillary_chunk_is_skipped(self, position: int) -> None:
        body = body_of(small_file())
        body.insert(position, chunk(b"meta", b"title=something"))
        body.insert(0, chunk(b"xtra", b""))
        assert read(assemble(raw_head(), body)) == read(small_file())

    def test_ancillary_chunk_crc_is_checked(self) -> None:
        body = [chunk(b"meta", b"abc", crc=0), *body_of(small_file())]
        with pytest.raises(Corrupt, match="CRC mismatch in chunk 'meta'"):
            read(assemble(raw_head(), body))

    def test_ancillary_chunk_before_head_is_rejected(self) -> None:
        data = small_file()
        with pytest.raises(Corrupt, match="first chunk"):
            read(MAGIC + chunk(b"meta", b"") + data[len(MAGIC) :])

    def test_unknown_critical_chunk(self) -> None:
        body = [*body_of(small_file()), chunk(b"XTRA", b"")]
        with pytest.raises(Corrupt, match="unknown critical chunk"):
            read(assemble(raw_head(), body))

    @pytest.mark.parametrize("ctype", [b"TI1E", b"\0\0\0\0", b"me a", b"\xc4\xc4\xc4\xc4"])
    def test_invalid_chunk_type(self, ctype: bytes) -> None:
        body = [chunk(ctype, b""), *body_of(small_file())]
        with pytest.raises(Corrupt, match="invalid chunk type"):
            read(assemble(raw_head(), body))

    def test_second_head(self) -> None:
        body = [chunk(b"HEAD", raw_head()), *body_of(small_file())]
        with pytest.raises(Corrupt, match="second HEAD"):
            read(assemble(raw_head(), body))

    def test_first_chunk_must_be_head(self) -> None:
        data = small_file()
        with pytest.raises(Corrupt, match="first chunk"):
            read(MAGIC + data[len(MAGIC) + 12 + len(raw_head()) :])

    def test_trailing_data(self) -> None:
        for extra in (b"\0", b"junk", chunk(b"meta", b""), chunk(b"DEND", b"")):
            with pytest.raises(Corrupt, match="trailing data"):
                read(small_file() + extra)

    def test_dend_with_payload(self) -> None:
        data = assemble(raw_head(), body_of(small_file()), end=False) + chunk(b"DEND", b"x")
        with pytest.raises(Corrupt, match="DEND"):
            read(data)

    def test_too_few_tiles(self) -> None:
        body = body_of(small_file())
        with pytest.raises(Corrupt, match="1 of 2"):
            read(assemble(raw_head(), body[:1]))

    def test_too_many_tiles(self) -> None:
        body = body_of(small_file())
        extra = chunk(b"TILE", tile_payload(2, [b"", b"", b""]))
        with pytest.raises(Corrupt, match="more than the 2 TILE"):
            read(assemble(raw_head(), [*body, extra]))

    def test_tiles_out_of_order(self) -> None:
        body = body_of(small_file())
        with pytest.raises(Corrupt, match="tile index 1"):
            read(assemble(raw_head(), body[::-1]))


# ---------------------------------------------------------------------------------------------------
# Field values and hard limits
# ---------------------------------------------------------------------------------------------------


def _one_tile_file(**head: object) -> bytes:
    """A file whose HEAD says ``head`` and whose body is whatever a 1-tile, 2-slice file needs."""
    return assemble(raw_head(**head), [chunk(b"TILE", tile_payload(0, [b"", b"", b""]))])  # type: ignore[arg-type]


class TestFieldsAndLimits:
    @pytest.mark.parametrize(
        "field,value,error",
        [
            ("width", 0, Corrupt),
            ("height", 0, Corrupt),
            ("width", 65536, LimitExceeded),
            ("height", 2**32 - 1, LimitExceeded),
            ("color", 1, Corrupt),
            ("bit_depth", 16, Corrupt),
            ("quality", 101, Corrupt),
            ("tile_size", 0, Corrupt),
            ("tile_size", 127, Corrupt),
            ("tile_size", 4224, Corrupt),
            ("tile_size", 65535, Corrupt),
            ("slices", 0, Corrupt),
            ("slices", 17, Corrupt),
            ("name", b"Upper", Corrupt),
            ("name", b"bad name", Corrupt),
            ("name", b"\xff", Corrupt),
            ("name", b".dot", Corrupt),
        ],
    )
    def test_bad_head_fields(self, field: str, value: object, error: type[BitstreamError]) -> None:
        data = _one_tile_file(**{field: value})
        with pytest.raises(error):
            read(data)
        with pytest.raises(error):
            read_header(data)

    @pytest.mark.parametrize("name_len", [0, 65, 255])
    def test_bad_name_length(self, name_len: int) -> None:
        with pytest.raises(Corrupt, match="name length"):
            read(_one_tile_file(name=b"x" * 200, name_len=name_len))

    def test_head_too_short(self) -> None:
        for n in (0, 1, 2, 5, len(raw_head()) - 1):
            with pytest.raises(Corrupt):
                read(assemble(raw_head()[:n], []))

    def test_huge_image_rejected_before_allocation(self) -> None:
        data = _one_tile_file(width=65535, height=65535, tile_size=128)
        tracemalloc.start()
        try:
            with pytest.raises(LimitExceeded, match="pixels"):
                read(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20

    @pytest.mark.parametrize("length", [2**28 + 1, 2**31, 2**32 - 1])
    def test_huge_chunk_length_rejected_before_allocation(self, length: int) -> None:
        data = assemble(raw_head(), end=False) + struct.pack(">4sI", b"TILE", length) + b"\0" * 16
        tracemalloc.start()
        try:
            with pytest.raises(LimitExceeded, match=f"claims {length} payload bytes"):
                read(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20

    def test_ancillary_chunk_length_is_limited_too(self) -> None:
        data = assemble(raw_head(), end=False) + struct.pack(">4sI", b"meta", 2**31)
        with pytest.raises(LimitExceeded):
            read(data)

    def test_chunk_length_past_end_is_truncated(self) -> None:
        data = assemble(raw_head(), end=False) + struct.pack(">4sI", b"TILE", 2**20) + b"\0" * 100
        with pytest.raises(Truncated, match=r"needs 1048588 bytes, 108 left"):
            read(data)

    def test_huge_string_length(self) -> None:
        payload = struct.pack(">II", 0, 2**31)
        with pytest.raises(LimitExceeded, match="z claims"):
            read(_one_tile_file_with(payload))

    @pytest.mark.parametrize(
        "payload,match",
        [
            (b"", "no tile index"),
            (b"\0\0\0", "no tile index"),
            (struct.pack(">I", 0), "length of z"),
            (struct.pack(">II", 0, 5) + b"abc", "z claims 5 bytes, 3 left"),
            (tile_payload(0, [b"", b""]), r"length of y\[1\]"),
            (tile_payload(0, [b"", b"", b"x"]) + b"!", "unused bytes"),
            (tile_payload(0, [b"", b"", b""])[:-4] + struct.pack(">I", 9), r"y\[1\] claims 9"),
        ],
    )
    def test_bad_tile_payloads(self, payload: bytes, match: str) -> None:
        with pytest.raises(Corrupt, match=match):
            read(_one_tile_file_with(payload))

    def test_tile_count_limit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # With the pixel limit in place at most ~17k tiles are reachable; the tile limit is the
        # second line of defence, so lift the first to reach it.
        monkeypatch.setattr(C, "MAX_PIXELS", 2**32)
        with pytest.raises(LimitExceeded, match="tiles"):
            read(_one_tile_file(width=65535, height=65535, tile_size=128))


def _one_tile_file_with(tile: bytes) -> bytes:
    return assemble(raw_head(width=100, height=100, tile_size=128), [chunk(b"TILE", tile)])


# ---------------------------------------------------------------------------------------------------
# Error hygiene
# ---------------------------------------------------------------------------------------------------


def test_errors_are_public_dicodec_errors() -> None:
    for cls in (BadMagic, UnsupportedVersion, Truncated, Corrupt, LimitExceeded):
        assert issubclass(cls, dicodec.BitstreamError) and issubclass(cls, dicodec.DicodecError)


def test_type_errors_for_non_buffers() -> None:
    with pytest.raises(TypeError):
        read("not bytes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Golden file
# ---------------------------------------------------------------------------------------------------


class TestGolden:
    def test_file_hash_is_pinned(self) -> None:
        assert hashlib.sha256(GOLDEN.read_bytes()).hexdigest() == GOLDEN_SHA256

    def test_reads_to_pinned_values(self) -> None:
        header, tiles = read(GOLDEN.read_bytes())
        assert header == Header(
            model="golden-test.v1",
            weights_hash=bytes.fromhex("1e1e25dcf8b7a453"),
            width=300,
            height=200,
            quality=60,
            tile_size=128,
            num_slices=2,
            color=0,
            bit_depth=8,
            flags=0,
            version=(1, 0),
        )
        assert [(len(t.z), *map(len, t.y)) for t in tiles] == GOLDEN_LENGTHS
        digest = hashlib.sha256(b"".join(t.z + b"".join(t.y) for t in tiles)).hexdigest()
        assert digest == GOLDEN_CONTENT

    def test_write_reproduces_it_byte_for_byte(self) -> None:
        assert write(*golden_container()) == GOLDEN.read_bytes()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-golden"]:
        sys.exit("usage: python tests/test_bitstream_container.py --write-golden")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = write(*golden_container())
    GOLDEN.write_bytes(data)
    print(f"wrote {GOLDEN} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
