"""Split the prepared training pack into photo/ and graphics/ subfolders for a weighted data mix.

``dicodec train --mix photo=0.75,graphics=0.25`` samples each top-level subfolder of ``--data`` with the
given weight. This script builds such a folder from ``scripts/prepare_data.py``'s pack and manifest:
every training photo, and every second graphic (by file name) while the graphics stay under
``--graphics-mb`` (the pack has to travel to the GPU machine next to the source tree, 64 MiB in all).
It is how the ``hp32-v2`` training folder was made (docs/training.md)::

    python scripts/make_mix_pack.py --pack data/pack --manifest docs/data_manifest.json --out .carry3/pack

A pack larger than one device call carries is cut into shards with ``--shard-mb``: ``OUT/part-1``,
``OUT/part-2`` ..., each with its own ``photo/`` and ``graphics/`` and at most that many MB, filled in
file-name order with the graphics first (``scripts/gpu_long_run.sh stage`` merges them on the machine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click


@click.command()
@click.option("--pack", type=click.Path(exists=True, file_okay=False), default="data/pack", show_default=True)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False),
    default="docs/data_manifest.json",
    show_default=True,
)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to create.")
@click.option("--graphics-mb", type=float, default=9.5, show_default=True, help="Budget for graphics.")
@click.option(
    "--shard-mb", type=float, default=0.0, help="Cut into OUT/part-N of at most this many MB (0: one folder)."
)
def main(pack: str, manifest: str, out: str, graphics_mb: float, shard_mb: float) -> None:
    images = [i for i in json.loads(Path(manifest).read_text())["images"] if i["split"] == "train"]
    photos = [i for i in images if i["kind"] == "photo"]
    graphics = sorted((i for i in images if i["kind"] == "graphics"), key=lambda i: i["pack_file"])[::2]
    chosen = {"photo": photos, "graphics": []}
    budget = 0
    for item in graphics:
        if budget + item["pack_bytes"] <= graphics_mb * 1e6:
            chosen["graphics"].append(item)
            budget += item["pack_bytes"]
    for group, items in chosen.items():
        size = sum(i["pack_bytes"] for i in items) / 1e6
        click.echo(f"{group}: {len(items)} images, {size:.1f} MB")
    placed = shards(chosen, shard_mb * 1e6) if shard_mb else [chosen]
    for n, part in enumerate(placed, 1):
        root = Path(out) / f"part-{n}" if shard_mb else Path(out)
        for group, items in part.items():
            folder = root / group
            folder.mkdir(parents=True, exist_ok=True)
            for item in items:
                source = Path(pack) / item["pack_file"]
                if not source.is_file():
                    raise click.ClickException(f"{source} is missing: run scripts/prepare_data.py first")
                shutil.copy2(source, folder / item["pack_file"])
        if shard_mb:
            size = sum(i["pack_bytes"] for items in part.values() for i in items) / 1e6
            click.echo(f"{root}: {sum(map(len, part.values()))} images, {size:.1f} MB")


def shards(chosen: dict[str, list[dict]], limit: float) -> list[dict[str, list[dict]]]:
    """Consecutive parts of at most ``limit`` bytes each, graphics first, then photos by file name."""
    order = [(g, i) for g in ("graphics", "photo") for i in sorted(chosen[g], key=lambda i: i["pack_file"])]
    parts: list[dict[str, list[dict]]] = [{"photo": [], "graphics": []}]
    size = 0
    for group, item in order:
        if item["pack_bytes"] > limit:
            raise click.ClickException(f"{item['pack_file']} alone is over --shard-mb")
        if size + item["pack_bytes"] > limit:
            parts.append({"photo": [], "graphics": []})
            size = 0
        parts[-1][group].append(item)
        size += item["pack_bytes"]
    return parts


if __name__ == "__main__":
    main()
