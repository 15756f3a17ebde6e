"""Whole images <-> bitstreams: padding, tiling, and the container.

Images are padded by edge replication to a multiple of 32 px (bitstream 2.x; 128 px in 1.x, which kept
the hyper-latent grid whole at the price of coding up to 127 padded rows and columns), cut into
``tile_size`` blocks in raster order and each block is coded independently. Tiles bound memory for
any image size (8K and beyond) at the cost of a visible seam only at very low rates; the default tile
of 2048 px codes 1080p and 2048x2048 images as one tile.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor

from dicodec.bitstream import container
from dicodec.codec import grouped_ans, heap, rans
from dicodec.codec.model import PAD_MULTIPLE, ImageCodec
from dicodec.codec.registry import ModelEntry
from dicodec.errors import Corrupt, WeightsMismatch

DEFAULT_TILE = 2048


def pad_image(x: Tensor, multiple: int = PAD_MULTIPLE) -> Tensor:
    """Replicate-pad (1, 3, H, W) to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def parse_version(text: str) -> tuple[int, int]:
    """``"2.0"`` -> ``(2, 0)``: the format a registry entry says its model writes."""
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def entropy_coder(version: tuple[int, int]) -> ModuleType:
    """The entropy coder of a bitstream version: CompressAI's rANS in 1.x and 2.x, the grouped ANS coder
    in 3.x (``docs/bitstream.md`` section 8; same tables, same rate, no per-symbol Python objects)."""
    return rans if version[0] < 3 else grouped_ans


def encode_image(
    codec: ImageCodec,
    entry: ModelEntry,
    x: Tensor,
    quality: int,
    tile_size: int = DEFAULT_TILE,
    refine_steps: int = 0,
) -> bytes:
    """Code a (1, 3, H, W) float image in [0, 1] into a complete bitstream (``refine_steps``: see
    :meth:`ImageCodec.compress`)."""
    height, width = x.shape[-2:]
    header = container.Header(
        version=parse_version(entry.bitstream_version),
        model=entry.name,
        weights_hash=entry.weights_hash,
        width=int(width),
        height=int(height),
        quality=int(quality),
        tile_size=int(tile_size),
        num_slices=codec.config.strings_per_tile,
    )
    padded = pad_image(x, header.pad_multiple)
    coder = entropy_coder(header.version)
    tiles = []
    with heap.retained_heap(enabled=x.device.type == "cpu"):  # same bytes, no page-fault storm
        for index in range(header.num_tiles):
            top, left, th, tw = container.tile_rect(header, index)
            tile = padded[..., top : top + th, left : left + tw]
            strings = codec.compress(tile, quality, coder, refine_steps=refine_steps)
            tiles.append(container.Tile(z=strings[0], y=tuple(strings[1:])))
    return container.write(header, tiles)


def check_weights_hash(header: container.Header, entry: ModelEntry) -> None:
    """Refuse a file written with other weights than the registry's (before any weights are loaded)."""
    if header.weights_hash != entry.weights_hash:
        raise WeightsMismatch(
            f"file was written with {header.model} weights {header.weights_hash.hex()}, "
            f"installed weights are {entry.weights_hash.hex()}"
        )


def check_model(header: container.Header, entry: ModelEntry, codec: ImageCodec) -> None:
    """Refuse to decode with weights other than those the file was written with."""
    check_weights_hash(header, entry)
    if header.num_slices != codec.config.strings_per_tile:
        raise Corrupt(
            f"file declares {header.num_slices} latent slices, model {entry.name} uses "
            f"{codec.config.strings_per_tile}"
        )


# (strings, (tile_h, tile_w), entropy coder of the file's version) -> (1, 3, tile_h, tile_w) pixels
TileDecoder = Callable[[list[bytes], tuple[int, int], ModuleType], Tensor]


def to_uint8(pixels: Tensor) -> Tensor:
    """(1, 3, h, w) floats in [0, 1] -> (h, w, 3) uint8, on the tensor's own device.

    The one rounding rule of every decode (clamp, scale, add 0.5, truncate): elementwise IEEE float32
    operations, so a GPU gives the same bytes as the CPU for the same floats.
    """
    return (pixels[0].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous()


def decode_image(
    codec: ImageCodec,
    header: container.Header,
    tiles: list[container.Tile],
    decode_tile: TileDecoder | None = None,
    as_uint8: bool = False,
) -> Tensor:
    """Decode all tiles and stitch them into a (1, 3, H, W) image in [0, 1] on the CPU.

    Args:
        decode_tile: ``(strings, (tile_h, tile_w), coder) -> pixels``; the fast decode by default, the
            generative decode for ``mode="generative"``. ``coder`` is :func:`entropy_coder` of the
            header's version.
        as_uint8: return (H, W, 3) uint8 instead, rounded by :func:`to_uint8` on the decode device
            before the copy to the host: a quarter of the bytes and no float pass on the CPU. On the GPU
            the float copy of a 1080p image was ~19 ms of a 113 ms decode (``scripts/profile_decode.py``,
            docs/history.md "Where the untimed time went").

    On the CPU the tiles are decoded under :func:`~dicodec.codec.heap.retained_heap`: the same pixels,
    without ~3 s of page faults per 1080p decode.
    """
    with heap.retained_heap(enabled=codec.log_gain.device.type == "cpu"):
        return _decode_tiles(codec, header, tiles, decode_tile, as_uint8)


def _decode_tiles(
    codec: ImageCodec,
    header: container.Header,
    tiles: list[container.Tile],
    decode_tile: TileDecoder | None,
    as_uint8: bool,
) -> Tensor:
    if decode_tile is None:

        def decode_tile(strings, shape, coder):
            return codec.decompress(strings, shape, header.quality, coder)

    coder = entropy_coder(header.version)
    ph, pw = header.padded_size
    out = torch.empty(ph, pw, 3, dtype=torch.uint8) if as_uint8 else torch.empty(1, 3, ph, pw)
    for index, tile in enumerate(tiles):
        top, left, th, tw = container.tile_rect(header, index)
        try:
            pixels = decode_tile([tile.z, *tile.y], (th, tw), coder)
        except ValueError as exc:
            raise Corrupt(f"tile {index}: entropy-coded data is corrupt ({exc})") from exc
        # NaN/inf only come from a broken model; mapping them is cheaper than a host sync to test for them
        pixels = torch.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
        if as_uint8:
            out[top : top + th, left : left + tw] = to_uint8(pixels).cpu()
        else:
            out[..., top : top + th, left : left + tw] = pixels.cpu()
    if as_uint8:
        return out[: header.height, : header.width]
    return out[..., : header.height, : header.width]
