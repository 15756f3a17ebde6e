"""Readers of the resource archives that hold training photos (Qt .rcc, Eet .edj), on built archives."""

from __future__ import annotations

import struct

import pytest

from dicodec.codec.training.archives import ArchiveError, read_eet_jpeg_images, read_qt_rcc

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body" * 10
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


def build_rcc(files: list[tuple[str, bytes, int]], version: int = 2) -> bytes:
    """A Qt resource file with one folder ``res`` holding ``(name, data, flags)`` files."""
    node_size = 14 if version == 1 else 22
    names, data = b"", b""
    name_offsets = {}
    for name in ["res", *(f[0] for f in files)]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")

    def node(name_offset: int, flags: int, tail: bytes) -> bytes:
        return (struct.pack(">IH", name_offset, flags) + tail).ljust(node_size, b"\0")

    tree = node(0, 2, struct.pack(">II", 1, 1))
    tree += node(name_offsets["res"], 2, struct.pack(">II", len(files), 2))
    for name, blob, flags in files:
        tree += node(name_offsets[name], flags, struct.pack(">HHI", 0, 0, len(data)))
        data += struct.pack(">I", len(blob)) + blob
    header = 20 if version < 3 else 24
    tree_offset = header
    data_offset = tree_offset + len(tree)
    names_offset = data_offset + len(data)
    head = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        head += struct.pack(">I", 0)
    return head + tree + data + names


def build_eet(entries: list[tuple[str, bytes]]) -> bytes:
    """An Eet archive with the given ``(name, data)`` entries (names after the directory)."""
    count = len(entries)
    directory_end = 12 + 24 * count
    names = b"".join(n.encode() + b"\0" for n, _ in entries)
    offset, name_offset, records, body = directory_end + len(names), directory_end, b"", b""
    for name, blob in entries:
        records += struct.pack(">6I", offset + len(body), len(blob), len(blob), name_offset, len(name) + 1, 0)
        name_offset += len(name) + 1
        body += blob
    return struct.pack(">III", 0x1EE70F42, count, len(names)) + records + names + body


class TestQtRcc:
    @pytest.mark.parametrize("version", [1, 2, 3])
    def test_files_with_paths_and_compressed_ones_skipped(self, version):
        buf = build_rcc([("a.webp", WEBP, 0), ("b.jpg", JPEG, 0), ("c.png", b"zlib", 1)], version)
        entries = read_qt_rcc(buf)
        assert [(e.path, e.data) for e in entries] == [("/res/a.webp", WEBP), ("/res/b.jpg", JPEG)]

    def test_bad_magic_and_version(self):
        buf = build_rcc([("a.jpg", JPEG, 0)])
        with pytest.raises(ArchiveError, match="magic"):
            read_qt_rcc(b"xres" + buf[4:])
        with pytest.raises(ArchiveError, match="version 9"):
            read_qt_rcc(buf[:4] + struct.pack(">I", 9) + buf[8:])

    def test_truncated_file_raises_instead_of_reading_short(self):
        buf = build_rcc([("a.jpg", JPEG, 0)])
        for cut in (10, 40, len(buf) - len(JPEG) // 2):
            with pytest.raises(ArchiveError):
                read_qt_rcc(buf[:cut])

    def test_cycle_is_refused(self):
        buf = bytearray(build_rcc([("a.jpg", JPEG, 0)]))
        struct.pack_into(">II", buf, 20 + 22 + 6, 1, 1)  # the folder lists itself as its child
        with pytest.raises(ArchiveError, match="deep"):
            read_qt_rcc(bytes(buf))


class TestEet:
    def test_jpeg_images_largest_first_others_ignored(self):
        small, large = JPEG, JPEG + b"more" * 50
        buf = build_eet(
            [
                ("edje/images/0", small),
                ("edje/images/1", large),
                ("edje/images/2", b"\x89PNG not a jpeg"),
                ("edje/fonts/x", JPEG),
            ]
        )
        found = read_eet_jpeg_images(buf)
        assert [(e.path, e.data) for e in found] == [("edje/images/1", large), ("edje/images/0", small)]

    def test_bad_magic_and_lengths(self):
        buf = build_eet([("edje/images/0", JPEG)])
        with pytest.raises(ArchiveError, match="Eet"):
            read_eet_jpeg_images(b"\0\0\0\0" + buf[4:])
        with pytest.raises(ArchiveError, match="entries"):
            read_eet_jpeg_images(buf[:4] + struct.pack(">I", 10**6) + buf[8:])
        with pytest.raises(ArchiveError):
            read_eet_jpeg_images(buf[: len(buf) - 5])
