"""Images stored inside application resource archives, read without the applications.

Two Debian packages ship camera photos only inside archives of their own format, so the data
preparation (``dicodec data prepare``) reads those archives directly:

* **Qt resource files** (``.rcc``, GCompris): ``"qres"``, then four big-endian u32 fields (format
  version, offsets of the tree, data and name sections; version 3 adds a flags word). The tree is an
  array of fixed-size nodes (14 bytes, 22 from version 2 on: the last-modified time): a name offset
  (u32), flags (u16: 1 zlib, 2 directory, 4 zstd), then for a directory its child count and first
  child index (u32, u32), for a file its country and language (u16, u16) and data offset (u32). A name
  is a u16 length, a u32 hash and UTF-16BE text; a data block is a u32 size and the bytes. Only
  uncompressed entries are returned: GCompris stores its WebP photos that way (compressing them would
  not pay).
* **Eet archives** (``.edj``, Enlightenment themes and backgrounds): a ``>III`` header (magic
  ``0x1EE70F42``, entry count, dictionary size), then one ``>6I`` record per entry (data offset,
  stored size, data size, name offset, name length, flags); names are NUL-terminated UTF-8. An edje
  background keeps its picture as an ``edje/images/N`` entry; the photographs are stored as plain
  JPEG (``FF D8 FF``), which is all this reader returns.

Both readers check every offset and length against the buffer before use and raise
:class:`ArchiveError` on a malformed file instead of returning garbage.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

RCC_MAGIC = b"qres"
RCC_DIRECTORY = 0x2
RCC_COMPRESSED = 0x1 | 0x4  # zlib, zstd
EET_MAGIC = 0x1EE70F42
JPEG_START = b"\xff\xd8\xff"
MAX_DEPTH = 64  # a Qt resource tree deeper than this is corrupt (or a cycle)


class ArchiveError(ValueError):
    """The bytes are not a well-formed archive of the expected kind."""


@dataclass(frozen=True)
class Entry:
    """One stored file: its path inside the archive and its bytes."""

    path: str
    data: bytes


def _unpack(fmt: str, buf: bytes, offset: int) -> tuple:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(buf):
        raise ArchiveError(f"field at offset {offset} runs past the end ({len(buf)} bytes)")
    return struct.unpack_from(fmt, buf, offset)


def _slice(buf: bytes, offset: int, size: int) -> bytes:
    if offset < 0 or size < 0 or offset + size > len(buf):
        raise ArchiveError(f"{size} bytes at offset {offset} run past the end ({len(buf)} bytes)")
    return buf[offset : offset + size]


def read_qt_rcc(buf: bytes) -> list[Entry]:
    """The uncompressed files of a Qt resource file, in tree order, with ``/``-joined paths."""
    if buf[:4] != RCC_MAGIC:
        raise ArchiveError("not a Qt resource file (no 'qres' magic)")
    version, tree, data, names = _unpack(">IIII", buf, 4)
    if version not in (1, 2, 3):
        raise ArchiveError(f"Qt resource format version {version} is not supported")
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = _unpack(">H", buf, names + offset)
        return _slice(buf, names + offset + 6, 2 * length).decode("utf-16-be", errors="replace")

    entries: list[Entry] = []

    def walk(index: int, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ArchiveError("resource tree too deep")
        node = tree + index * node_size
        name_offset, flags = _unpack(">IH", buf, node)
        name = name_at(name_offset) if index else ""
        if flags & RCC_DIRECTORY:
            count, first = _unpack(">II", buf, node + 6)
            for child in range(first, first + count):
                walk(child, f"{prefix}{name}/", depth + 1)
        elif not flags & RCC_COMPRESSED:
            (data_offset,) = _unpack(">I", buf, node + 10)
            (size,) = _unpack(">I", buf, data + data_offset)
            entries.append(Entry(prefix + name, _slice(buf, data + data_offset + 4, size)))

    walk(0, "", 0)
    return entries


def _eet_records(buf: bytes) -> Iterator[tuple[str, int, int]]:
    """``(name, offset, stored size)`` of every entry of an Eet archive."""
    magic, count, dictionary = _unpack(">III", buf, 0)
    if magic != EET_MAGIC:
        raise ArchiveError(f"not an Eet archive (magic {magic:#010x})")
    if 12 + 24 * count > len(buf):
        raise ArchiveError(f"{count} entries do not fit in {len(buf)} bytes")
    for i in range(count):
        offset, size, _data_size, name_offset, name_length, _flags = _unpack(">6I", buf, 12 + 24 * i)
        name = _slice(buf, name_offset, name_length).rstrip(b"\0").decode("utf-8", errors="replace")
        yield name, offset, size


def read_eet_jpeg_images(buf: bytes) -> list[Entry]:
    """The ``edje/images/*`` entries of an Eet archive that are plain JPEG files, largest first."""
    found = [
        Entry(name, _slice(buf, offset, size))
        for name, offset, size in _eet_records(buf)
        if name.startswith("edje/images/") and _slice(buf, offset, size)[:3] == JPEG_START
    ]
    return sorted(found, key=lambda e: (-len(e.data), e.path))
