"""dicodec.bitstream: the container format of ``.dic`` files (spec: ``docs/bitstream.md``).

Only framing lives here (magic, chunks, checksums, limits); the entropy-coded strings inside each
tile are produced and consumed by :mod:`dicodec.codec`.
"""

from dicodec.bitstream.container import (
    FORMAT_VERSION,
    MAGIC,
    MAX_CHUNK_PAYLOAD,
    MAX_DIM,
    MAX_HEAD_PAYLOAD,
    MAX_PIXELS,
    MAX_SLICES,
    MAX_STRING,
    MAX_TILES,
    Header,
    Tile,
    read,
    read_header,
    tile_rect,
    write,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHUNK_PAYLOAD",
    "MAX_DIM",
    "MAX_HEAD_PAYLOAD",
    "MAX_PIXELS",
    "MAX_SLICES",
    "MAX_STRING",
    "MAX_TILES",
    "Header",
    "Tile",
    "read",
    "read_header",
    "tile_rect",
    "write",
]
