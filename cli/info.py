"""``dicodec info``: a ``.dic`` file's header, without loading a model (``.dicv``: cli/video.py)."""

from __future__ import annotations

import json

import click

from dicodec import api

from .imagefiles import display_name, read_bytes
from .text import about as _about
from .text import human_size, version_text


@click.command(
    help="""Show a .dic file's header without decoding it.

Prints size, bpp, model, weights hash, format version, quality, dimensions and tiles. No model is
loaded, so it is instant; FILE may be - for stdin.

\b
Examples:
  dicodec info photo.dic
  dicodec info --json photo.dic | jq .bpp
"""
)
@click.argument("file", type=click.Path(allow_dash=True))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the header as a JSON object (the keys of dicodec.inspect, plus 'file').",
)
def info(file: str, as_json: bool) -> None:
    name = display_name(file)
    data = read_bytes(file)
    with _about(name):
        header = api.inspect(data)
    if as_json:
        click.echo(json.dumps({"file": name, **header}, indent=2, default=str))
        return
    g = header.get
    tiles = f"{g('num_tiles', '?')} of {g('tile_size', '?')} px, {g('num_slices', '?')} slices"
    bpp = g("bpp")
    size = g("size_bytes", len(data))
    rows = [
        ("file", name),
        ("dimensions", f"{g('width', '?')}x{g('height', '?')}"),
        (
            "size",
            f"{size} bytes ({human_size(int(size))})" + (f", {bpp:.4f} bpp" if bpp is not None else ""),
        ),
        ("quality", f"{g('quality', '?')}"),
        ("model", f"{g('model', '?')}"),
        ("weights", f"{g('weights_hash', '?')}"),
        ("format", f"version {version_text(g('version', '?'))}"),
        ("tiles", tiles),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
