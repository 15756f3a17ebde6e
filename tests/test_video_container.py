"""The video container (docs/bitstream.md part II): round trips, streaming, and every rejection typed."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from dicodec.bitstream import video as v
from dicodec.bitstream import video_frames
from dicodec.errors import BadMagic, Corrupt, LimitExceeded, Truncated, UnsupportedVersion


def header(**kw) -> v.VideoHeader:
    fields = dict(
        model="tiny.v1", weights_hash=b"12345678", width=64, height=48, quality=50, num_slices=2,
        fps_num=30000, fps_den=1001, gop=3,
    )  # fmt: skip
    fields.update(kw)
    return v.VideoHeader(**fields)


def clip(h: v.VideoHeader | None = None, frames: int = 5, seekable: bool = True) -> bytes:
    h = h or header()
    buf = io.BytesIO()
    stream = buf if seekable else _NoSeek(buf)
    w = v.VideoWriter(stream, h)
    for i in range(frames):
        kind = "intra" if h.is_key(i) else "inter"
        w.write(v.Frame(i, kind, tuple(bytes([i, k]) * k for k in range(1 + h.num_slices))))
    w.close()
    return buf.getvalue()


class _NoSeek:
    def __init__(self, buf: io.BytesIO):
        self.buf = buf

    def write(self, data: bytes) -> int:
        return self.buf.write(data)

    def seekable(self) -> bool:
        return False


def rechunk(data: bytes, index: int, payload: bytes | None = None, ctype: bytes | None = None) -> bytes:
    """Chunk ``index`` (0 = VHED) with a new payload or type and a valid CRC."""
    pos, i = len(v.MAGIC), 0
    while True:
        t, n = struct.unpack_from(">4sI", data, pos)
        end = pos + 12 + n
        if i == index:
            t, p = ctype or t, data[pos + 8 : end - 4] if payload is None else payload
            chunk = struct.pack(">4sI", t, len(p)) + p + struct.pack(">I", zlib.crc32(p, zlib.crc32(t)))
            return data[:pos] + chunk + data[end:]
        pos, i = end, i + 1


class TestRoundTrip:
    def test_frames_and_header_read_back(self) -> None:
        h, frames = v.read(clip())
        assert h == header(frame_count=5)
        assert [f.kind for f in frames] == ["intra", "inter", "inter", "intra", "inter"]
        assert frames[4].strings == (b"", b"\x04\x01", b"\x04\x02\x04\x02")
        assert h.fps == pytest.approx(29.97, abs=0.001)

    def test_unseekable_output_keeps_count_zero_in_header(self) -> None:
        data = clip(seekable=False)
        assert v.read_header(data).frame_count == 0
        h, frames = v.read(data)
        assert len(frames) == 5 and h.frame_count == 0

    def test_inter_model_named_in_header(self) -> None:
        h = header(inter_model="ctx-tiny.v1", inter_hash=b"abcdefgh")
        assert v.read_header(clip(h)).inter_model == "ctx-tiny.v1"

    def test_reading_is_lazy(self) -> None:
        data = clip(frames=6)
        h, it = v.iter_chunks(io.BytesIO(data[:-30]))  # VEND and part of the last frame missing
        assert next(it).index == 0 and next(it).index == 1  # frames before the damage are read
        with pytest.raises(Truncated):
            list(it)

    def test_writer_refuses_misuse(self) -> None:
        w = v.VideoWriter(io.BytesIO(), header())
        with pytest.raises(ValueError, match="must be intra"):
            w.write(v.Frame(0, "inter", (b"",) * 3))
        with pytest.raises(ValueError, match="strings"):
            w.write(v.Frame(0, "intra", (b"",)))
        with pytest.raises(ValueError, match="at least one frame"):
            w.close()
        with pytest.raises(ValueError):
            header(gop=0)
        with pytest.raises(ValueError):
            header(fps_num=2000, fps_den=1)


class TestRejections:
    @pytest.mark.parametrize(
        ("data", "error"),
        [
            (b"", BadMagic),
            (b"\x89DCV", Truncated),
            (b"\x89DIC\r\n\x1a\n" + b"\0" * 30, BadMagic),
            (b"GIF89a" + b"\0" * 30, BadMagic),
        ],
    )
    def test_magic(self, data: bytes, error: type) -> None:
        with pytest.raises(error):
            v.read(data)

    def test_every_truncation_is_typed(self) -> None:
        data = clip()
        for n in range(1, len(data)):
            with pytest.raises((Truncated, Corrupt)):
                v.read(data[:n])

    def test_bad_checksum(self) -> None:
        data = bytearray(clip())
        data[60] ^= 1
        with pytest.raises(Corrupt, match="CRC"):
            v.read(bytes(data))

    def test_future_major_version(self) -> None:
        data = bytearray(clip())
        data[16] = 3
        with pytest.raises(UnsupportedVersion):
            v.read(bytes(data))

    def test_key_frame_coded_inter(self) -> None:
        with pytest.raises(Corrupt, match="starts a GOP"):
            v.read(rechunk(clip(), 4, ctype=b"PFRM"))  # frame 3 with gop 3

    def test_count_mismatch_and_trailing_data(self) -> None:
        data = clip()
        with pytest.raises(Corrupt, match="VEND"):
            v.read(rechunk(data, 6, struct.pack(">I", 4)))
        with pytest.raises(Corrupt, match="trailing"):
            v.read(data + b"x")

    def test_hostile_header_values(self) -> None:
        payload = v.head_payload(header())
        tail = len(payload) - v._HEAD_TAIL.size
        big = payload[:tail] + struct.pack(">I", 70000) + payload[tail + 4 :]
        with pytest.raises(LimitExceeded):
            v.read(rechunk(clip(), 0, big))
        with pytest.raises(Corrupt):
            v.read(rechunk(clip(), 0, payload[:10]))

    def test_hostile_string_length(self) -> None:
        data = clip()  # 2.0: varint index and lengths
        with pytest.raises(LimitExceeded):
            v.read(rechunk(data, 1, b"\x00" + video_frames._varint(2**28 + 1)))
        with pytest.raises(Corrupt, match="claims 1000 bytes"):
            v.read(rechunk(data, 1, b"\x00" + video_frames._varint(1000)))
        with pytest.raises(Corrupt, match="longer than 5 bytes"):
            v.read(rechunk(data, 1, b"\x00" + b"\xff" * 6))
        with pytest.raises(Corrupt, match="not minimally coded"):
            v.read(rechunk(data, 1, b"\x00\x81\x00"))
        old = clip(header(version=(1, 0)))  # 1.0: u32 fields
        with pytest.raises(LimitExceeded):
            v.read(rechunk(old, 1, struct.pack(">II", 0, 2**28 + 1)))
        with pytest.raises(Corrupt):
            v.read(rechunk(old, 1, struct.pack(">II", 0, 1000)))

    def test_unknown_critical_chunk_and_skipped_ancillary(self) -> None:
        data = clip()
        pos = len(v.MAGIC) + 12 + struct.unpack_from(">I", data, len(v.MAGIC) + 4)[0]
        anc = (
            struct.pack(">4sI", b"meta", 2)
            + b"hi"
            + struct.pack(">I", zlib.crc32(b"hi", zlib.crc32(b"meta")))
        )
        assert len(v.read(data[:pos] + anc + data[pos:])[1]) == 5
        crit = anc.replace(b"meta", b"Meta")[:-4]
        crit += struct.pack(">I", zlib.crc32(b"hi", zlib.crc32(b"Meta")))
        with pytest.raises(Corrupt, match="critical"):
            v.read(data[:pos] + crit + data[pos:])


class TestScaleShifts:
    """Version 2.0: every inter frame carries one scale shift per slice (spec II.3, II.6)."""

    def _clip(self, version: tuple[int, int], shifts: tuple[int, ...] = (3, 15)) -> bytes:
        h = header(version=version)
        buf = io.BytesIO()
        w = v.VideoWriter(buf, h)
        w.write(v.Frame(0, "intra", (b"z", b"a", b"b")))
        w.write(v.Frame(1, "inter", (b"z", b"c", b"d"), shifts if version[0] >= 2 else ()))
        w.write(v.Frame(2, "inter", (b"z", b"e", b"f")))  # no shifts given: all 0
        w.close()
        return buf.getvalue()

    def test_new_files_are_2_0_and_carry_the_shifts(self) -> None:
        assert v.FORMAT_VERSION == (2, 0) and header().version == (2, 0)
        h, frames = v.read(self._clip((2, 0)))
        assert h.version == (2, 0)
        assert [f.scale_shift for f in frames] == [(), (3, 15), (0, 0)]
        assert frames[1].strings == (b"z", b"c", b"d")

    def test_1_0_files_read_as_before(self) -> None:
        h, frames = v.read(self._clip((1, 0)))
        assert h.version == (1, 0) and [f.scale_shift for f in frames] == [(), (), ()]
        assert frames[1].strings == (b"z", b"c", b"d")

    def test_bad_shifts_are_corrupt(self) -> None:
        data = self._clip((2, 0))  # 2 slices: one byte of two nibbles
        _, frames = v.read(data)
        good = v.frame_payload(1, frames[1].strings, (3, 15))
        assert good[:2] == b"\x01\x3f"  # varint index 1, then the shifts 3 and 15
        with pytest.raises(Corrupt, match="its 2 scale shifts"):
            v.read(rechunk(data, 2, payload=b"\x01"))
        odd = v.VideoHeader(**{**header().__dict__, "num_slices": 3})
        buf = io.BytesIO()
        w = v.VideoWriter(buf, odd)
        w.write(v.Frame(0, "intra", (b"", b"", b"", b"")))
        w.write(v.Frame(1, "inter", (b"z", b"a", b"b", b"c"), (1, 2, 3)))
        w.close()
        h, frames = v.read(buf.getvalue())
        assert frames[1].scale_shift == (1, 2, 3)
        payload = v.frame_payload(1, frames[1].strings, (1, 2, 3))
        assert payload[1:3] == b"\x12\x30"
        bad = payload[:2] + b"\x31" + payload[3:]  # the unused low nibble set
        with pytest.raises(Corrupt, match="unused scale-shift nibble"):
            v.read(rechunk(buf.getvalue(), 2, payload=bad))

    def test_2_0_frames_are_smaller_than_1_0_frames(self) -> None:
        strings = (b"z" * 20, b"a" * 30, b"b" * 40)
        assert len(v.frame_payload(7, strings, (1, 2))) == 1 + 1 + 3 + 90
        assert len(v.frame_payload(7, strings, None, major=1)) == 4 + 12 + 90

    def test_the_writer_refuses_shifts_it_cannot_write(self) -> None:
        old = v.VideoWriter(io.BytesIO(), header(version=(1, 0)))
        with pytest.raises(ValueError, match="need an inter frame of version 2.x"):
            old.write(v.Frame(0, "intra", (b"", b"", b""), (1, 0)))
        w = v.VideoWriter(io.BytesIO(), header())
        w.write(v.Frame(0, "intra", (b"", b"", b"")))
        with pytest.raises(ValueError, match="3 scale shifts, not 2"):
            w.write(v.Frame(1, "inter", (b"", b"", b""), (0, 0, 0)))
        with pytest.raises(ValueError, match="outside 0..15"):
            w.write(v.Frame(1, "inter", (b"", b"", b""), (0, 16)))
